import { BootgateError, type ErrorCode } from '../errors.ts';
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AuditRepository } from '../store/audit-repository.ts';
import { ExportAccumulator, MANIFEST_FORMAT, exportQuery, type ExportFormat, type ExportManifest, type ExportRequest } from './export.ts';
import type { AuditSigner } from './keys.ts';

/**
 * The export stream (`POST /api/v1/audit/export`), framing `bootgate-audit-stream/1`:
 *
 *     <the export file, byte for byte: CSV header + rows, or NDJSON lines; every line ends in \n>
 *     <the signed manifest as one line of JSON, without a trailing newline>
 *
 * The manifest can only be signed once the last record is out (it holds the count, the last hash and the digest
 * of the whole file), so it comes last. A receiver writes everything up to the last newline it has seen and holds
 * back the rest; at the end of the body what it holds is the manifest. The file and the manifest it writes are
 * exactly what the in-memory export produced, so `bootgate audit verify` and older exports are unaffected.
 */
export const EXPORT_STREAM_FRAMING = 'bootgate-audit-stream/1';
export const EXPORT_STREAM_TYPE = 'application/vnd.bootgate.audit-export-stream';

export function exportStreamContentType(format: ExportFormat): string {
  return `${EXPORT_STREAM_TYPE}; framing=${EXPORT_STREAM_FRAMING}; format=${format}`;
}

/** Why an export stream did not complete: the EXPORT_* codes of the catalogue in src/errors.ts. */
export type ExportCode = Extract<ErrorCode, `EXPORT_${string}`>;

export class ExportError extends BootgateError<ExportCode> {
  override name = 'ExportError';
}

export interface StreamExportOptions {
  /** records per store read (keyset pagination by seq); default 5,000 */
  batchRecords?: number;
  /** bytes gathered before one write to the receiver; default 64 KiB */
  chunkBytes?: number;
  /** manifest createdAt (unix ms); default now */
  now?: () => number;
}

/** Resolves when `out` drained; rejects with EXPORT_ABORTED if it closes or fails first. */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (e?: Error): void => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', onError);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = (): void => settle();
    const onClose = (): void => settle(new ExportError('EXPORT_ABORTED', 'the receiver closed the connection during the export'));
    const onError = (e: Error): void => settle(new ExportError('EXPORT_ABORTED', `the connection failed during the export: ${e.message}`));
    out.on('drain', onDrain);
    out.on('close', onClose);
    out.on('error', onError);
  });
}

/**
 * Writes one chunk and, when the receiver's buffer is full (write() returned false), waits for 'drain'. Then
 * yields one event-loop turn either way: against a fast reader write() and 'drain' can complete without ever
 * returning to the loop, and an export of a year would hold the audit writer, the gateway and every other request
 * for seconds.
 */
async function send(out: Writable, chunk: string): Promise<void> {
  if (out.destroyed || out.writableEnded) throw new ExportError('EXPORT_ABORTED', 'the receiver closed the connection during the export');
  if (!out.write(chunk)) await drained(out);
  await nextTurn();
}

/**
 * Streams an export to `out` in the framing above, with backpressure: at most one batch of records and one chunk
 * are held at a time, whatever the size of the range and however slowly the receiver reads. The seq window is
 * fixed when the export starts (records appended meanwhile are not in it). If retention purges records of the
 * window while it is being read, the export fails with EXPORT_RANGE_PURGED rather than silently leaving a gap.
 * Does not end `out`; returns the manifest it sent.
 */
export async function streamExport(
  repo: AuditRepository,
  signer: AuditSigner,
  req: ExportRequest,
  out: Writable,
  opts: StreamExportOptions = {},
): Promise<ExportManifest> {
  const batchRecords = opts.batchRecords ?? 5_000;
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const acc = new ExportAccumulator(signer, req);
  const snap = repo.snapshot(exportQuery(req));
  let pending = acc.header();
  let cursor = 0;
  for (;;) {
    // seq cursor+1 existed when the window was fixed (seqs are contiguous above the oldest record): if the oldest
    // record is now past it, a purge ran between two batches.
    if (cursor > 0 && (repo.first()?.seq ?? Number.POSITIVE_INFINITY) > cursor + 1)
      throw new ExportError('EXPORT_RANGE_PURGED', `records after seq ${cursor} were purged by retention during the export`);
    const batch = repo.exportBatch(snap, cursor, batchRecords);
    for (const r of batch) {
      pending += acc.line(r);
      if (pending.length >= chunkBytes) {
        await send(out, pending);
        pending = '';
      }
    }
    if (batch.length < batchRecords) break;
    cursor = batch.at(-1)!.seq;
  }
  const manifest = acc.manifest(opts.now?.() ?? Date.now());
  await send(out, pending + JSON.stringify(manifest));
  return manifest;
}

/**
 * The receiving side: push() the body's chunks as they arrive and write what it returns (the file bytes up to the
 * last newline so far); end() returns the manifest once the body is complete, after checking that it is a
 * manifest and that the bytes handed out match its file digest. Holds at most one partial line.
 */
export class ExportStreamReader {
  private tail: Buffer = Buffer.alloc(0);
  private readonly digest = createHash('sha256');
  private fileBytes = 0;

  constructor(private readonly maxLineBytes = 16 * 1024 * 1024) {}

  push(chunk: Uint8Array): Buffer {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const nl = buf.lastIndexOf(0x0a);
    if (nl < 0) {
      this.tail = Buffer.concat([this.tail, buf]);
      if (this.tail.length > this.maxLineBytes)
        throw new ExportError('EXPORT_LINE_TOO_LONG', `a line of the export stream is longer than ${this.maxLineBytes} bytes`);
      return Buffer.alloc(0);
    }
    const out = this.tail.length ? Buffer.concat([this.tail, buf.subarray(0, nl + 1)]) : Buffer.from(buf.subarray(0, nl + 1));
    this.tail = Buffer.from(buf.subarray(nl + 1));
    this.digest.update(out);
    this.fileBytes += out.length;
    return out;
  }

  /** How many file bytes push() has handed out. */
  get bytes(): number {
    return this.fileBytes;
  }

  end(): ExportManifest {
    let m: unknown;
    try {
      m = JSON.parse(this.tail.toString('utf8'));
    } catch {
      throw new ExportError('EXPORT_INCOMPLETE', 'the export stream does not end with a manifest (interrupted?)');
    }
    const o = m as Partial<ExportManifest> | null;
    if (typeof o !== 'object' || o === null || o.format !== MANIFEST_FORMAT || typeof o.fileSha256 !== 'string')
      throw new ExportError('EXPORT_INCOMPLETE', `the export stream does not end with a ${MANIFEST_FORMAT} manifest (interrupted?)`);
    const digest = this.digest.digest('hex');
    if (digest !== o.fileSha256)
      throw new ExportError('EXPORT_DIGEST', `received ${this.fileBytes} bytes whose SHA-256 differs from the manifest's fileSha256`);
    return o as ExportManifest;
  }
}
