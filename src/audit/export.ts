import { createHash } from 'node:crypto';
import type { AuditQuery, AuditRepository } from '../store/audit-repository.ts';
import { csvLine } from './csv.ts';
import type { AuditSigner } from './keys.ts';
import {
  CHAIN_ALGORITHM,
  EXPORT_COLUMNS,
  MANIFEST_FORMAT,
  SIGNATURE_ALGORITHM,
  manifestMessage,
  type ExportFormat,
  type ExportManifest,
} from './format.ts';
import { GENESIS_HASH, type AuditRecord } from './record.ts';

export { EXPORT_COLUMNS, MANIFEST_FORMAT, SIGNATURE_ALGORITHM, manifestMessage, type ExportFormat, type ExportManifest } from './format.ts';

/** One record as an export line (NDJSON: an object with the columns in order; CSV: a row). */
export function exportLine(r: AuditRecord, format: ExportFormat): string {
  const src = r as unknown as Record<string, unknown>;
  const values = EXPORT_COLUMNS.map((c) => (c === 'time' ? new Date(r.time).toISOString() : (src[c] as string | number | null)));
  if (format === 'csv') return csvLine(values);
  const o: Record<string, unknown> = {};
  EXPORT_COLUMNS.forEach((c, i) => (o[c] = values[i]));
  return `${JSON.stringify(o)}\n`;
}

export interface ExportRequest {
  from?: number;
  to?: number;
  userId?: string;
  seat?: string;
  format: ExportFormat;
  /** the name the file will have (recorded in the manifest) */
  fileName: string;
}

/** The store query an export request selects (the time range, user and seat filters). */
export function exportQuery(req: ExportRequest): AuditQuery {
  const q: AuditQuery = {};
  if (req.from !== undefined) q.from = req.from;
  if (req.to !== undefined) q.to = req.to;
  if (req.userId !== undefined) q.userId = req.userId;
  if (req.seat !== undefined) q.seat = req.seat;
  return q;
}

/**
 * The running state of one export: records go through line() in chain order and leave as export lines, while the
 * file digest, the count and the first/last records accumulate; manifest() signs the result once the last line is
 * out. Nothing here holds more than one record, so the same code serves an in-memory build and a streamed export.
 */
export class ExportAccumulator {
  private readonly digest = createHash('sha256');
  private first: AuditRecord | undefined;
  private last: AuditRecord | undefined;
  private count = 0;

  constructor(
    private readonly signer: AuditSigner,
    private readonly req: ExportRequest,
  ) {}

  /** The bytes before the first record: the CSV header line, nothing for NDJSON. Call once, first. */
  header(): string {
    if (this.req.format !== 'csv') return '';
    const h = csvLine([...EXPORT_COLUMNS]);
    this.digest.update(h);
    return h;
  }

  line(r: AuditRecord): string {
    const l = exportLine(r, this.req.format);
    this.digest.update(l);
    this.first ??= r;
    this.last = r;
    this.count++;
    return l;
  }

  /** The signed manifest of every line produced so far (call once, after the last line). */
  manifest(now: number): ExportManifest {
    const req = this.req;
    const unsigned: Omit<ExportManifest, 'signature'> = {
      format: MANIFEST_FORMAT,
      algorithm: { chain: CHAIN_ALGORITHM, signature: SIGNATURE_ALGORITHM, fileDigest: 'sha256' },
      file: req.fileName,
      recordFormat: req.format,
      range: {
        from: req.from === undefined ? null : new Date(req.from).toISOString(),
        to: req.to === undefined ? null : new Date(req.to).toISOString(),
      },
      filter: req.userId !== undefined || req.seat !== undefined ? { userId: req.userId ?? null, seat: req.seat ?? null } : null,
      count: this.count,
      firstSeq: this.first?.seq ?? null,
      lastSeq: this.last?.seq ?? null,
      prevHash: this.first?.prevHash ?? null,
      firstHash: this.first?.hash ?? null,
      lastHash: this.last?.hash ?? null,
      fileSha256: this.digest.digest('hex'),
      createdAt: new Date(now).toISOString(),
      publicKey: this.signer.publicKeyPem(),
      keyFingerprint: this.signer.fingerprint(),
    };
    return { ...unsigned, signature: this.signer.sign(manifestMessage(unsigned)) };
  }
}

/**
 * Builds an export and its signed manifest in memory (small exports and tests; the API streams with
 * streamExport() in export-stream.ts, which produces the same bytes and manifest).
 */
export function buildExport(
  repo: AuditRepository,
  signer: AuditSigner,
  req: ExportRequest,
  now = Date.now(),
): { content: string; manifest: ExportManifest } {
  const acc = new ExportAccumulator(signer, req);
  const parts: string[] = [acc.header()];
  for (const r of repo.iterate(exportQuery(req))) parts.push(acc.line(r));
  return { content: parts.join(''), manifest: acc.manifest(now) };
}

export { GENESIS_HASH };
