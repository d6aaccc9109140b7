import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { buildExport, type ExportFormat } from '../../src/audit/export.ts';
import { AuditSigner } from '../../src/audit/keys.ts';
import { AuditLog } from '../../src/audit/log.ts';
import { verifyExport, type VerifyResult } from '../../src/audit/verify.ts';
import { splitExportStream, verifyExportWeb, type CoreVerifyResult, type SubtleLike } from '../../src/audit/verify-core.ts';
import { AuditRepository } from '../../src/store/audit-repository.ts';
import { openDatabase } from '../../src/store/database.ts';

const subtle = globalThis.crypto.subtle as unknown as SubtleLike;
const silent = pino({ level: 'silent' });

async function exported(format: ExportFormat, n = 10, filter = false) {
  let t = Date.parse('2026-01-10T12:00:00.000Z');
  const db = openDatabase(':memory:');
  const repo = new AuditRepository(db);
  const signer = AuditSigner.generate();
  const log = new AuditLog({ repo, signer, logger: silent, clock: () => (t += 1000) });
  for (let i = 0; i < n; i++)
    await log.append({
      kind: 'http',
      seat: `A${i % 2}`,
      userId: `u${i % 2}`,
      userName: 'Zoé "Z", Durand',
      host: 'example.test',
      url: `/p/${i}`,
      bytesDown: 7000 + i,
    });
  await log.append({ kind: 'admin', actor: 'operator:x', action: 'note', detail: 'multi\nline, "quoted"' });
  const { content, manifest } = buildExport(repo, signer, { format, fileName: `x.${format}`, ...(filter ? { seat: 'A1' } : {}) });
  return { content, manifest: JSON.stringify(manifest), pem: signer.publicKeyPem() };
}

/** Both verifiers, and the verdicts compared: the same ok, the same code. */
async function both(content: string, manifest: string, pem?: string): Promise<{ node: VerifyResult; web: CoreVerifyResult }> {
  const node = verifyExport(content, manifest, pem);
  const web = await verifyExportWeb(subtle, content, manifest, pem);
  assert.equal(web.ok, node.ok, `node ${JSON.stringify(node)} web ${JSON.stringify(web)}`);
  if (!node.ok && !web.ok) {
    assert.equal(web.code, node.code);
    assert.equal(web.reason, node.reason);
  }
  return { node, web };
}

describe('the WebCrypto export verifier (the audit screen) agrees with the CLI verifier', () => {
  for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
    it(`${format}: valid, with the given or the embedded key; filtered exports too`, async () => {
      const e = await exported(format);
      const { web } = await both(e.content, e.manifest, e.pem);
      assert.deepEqual(web.ok && [web.count, web.firstSeq, web.lastSeq, web.embeddedKey], [11, 1, 11, false]);
      assert.equal((await both(e.content, e.manifest)).web.ok, true);
      const f = await exported(format, 10, true);
      assert.equal((await both(f.content, f.manifest, f.pem)).web.ok, true);
    });

    it(`${format}: an edited record is RECORD_ALTERED at its line and seq`, async () => {
      const e = await exported(format);
      const edited = e.content.replace('/p/4', '/p/X');
      const { web } = await both(edited, e.manifest, e.pem);
      assert.deepEqual(!web.ok && [web.code, web.seq, web.line], ['RECORD_ALTERED', 5, format === 'csv' ? 6 : 5]);
    });

    it(`${format}: dropped, swapped, manifest changed, other key, reformatted`, async () => {
      const e = await exported(format);
      const sep = format === 'csv' ? '\r\n' : '\n';
      const off = format === 'csv' ? 1 : 0;
      const lines = e.content.split(sep);
      const drop = lines.filter((_, i) => i !== off + 3).join(sep);
      assert.equal((await both(drop, e.manifest, e.pem)).web.ok || (await both(drop, e.manifest, e.pem)).node.ok, false);
      const sw = [...lines];
      [sw[off + 1], sw[off + 6]] = [sw[off + 6]!, sw[off + 1]!];
      await both(sw.join(sep), e.manifest, e.pem);
      const m = JSON.parse(e.manifest) as { count: number };
      m.count = 3;
      const { web } = await both(e.content, JSON.stringify(m), e.pem);
      assert.equal(!web.ok && web.code, 'SIGNATURE_INVALID');
      const other = await both(e.content, e.manifest, AuditSigner.generate().publicKeyPem());
      assert.equal(!other.web.ok && other.web.code, 'KEY_MISMATCH');
      await both(`${e.content}\n`, e.manifest, e.pem);
      await both(e.content, 'not json', e.pem);
    });
  }

  it('splits the export stream at its last newline', () => {
    assert.deepEqual(splitExportStream('a\nb\n{"m":1}'), { content: 'a\nb\n', manifestText: '{"m":1}' });
    assert.deepEqual(splitExportStream('{"m":1}'), { content: '', manifestText: '{"m":1}' });
  });

  it('property: any single-byte change gives the same verdict code from both verifiers', async () => {
    for (const format of ['ndjson', 'csv'] as ExportFormat[]) {
      const e = await exported(format, 4);
      const bytes = Buffer.from(e.content, 'utf8');
      await fc.assert(
        fc.asyncProperty(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
          const b = Buffer.from(bytes);
          b[at]! ^= xor;
          const { web } = await both(b.toString('utf8'), e.manifest, e.pem);
          assert.equal(web.ok, false);
        }),
        { numRuns: 150 },
      );
    }
  });
});
