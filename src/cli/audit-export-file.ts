import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EXPORT_STREAM_TYPE, ExportStreamReader } from '../audit/export-stream.ts';
import type { ExportManifest } from '../audit/export.ts';
import { BootgateError } from '../errors.ts';
import { fsyncDir } from '../store/fsync-dir.ts';

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
}

/**
 * Receives an export stream (audit/export-stream.ts) into `file` and writes `file.manifest.json` beside it. The
 * body is written as it arrives — each chunk is on its way to the disk before the next is read, so the socket
 * applies backpressure to the appliance and nothing accumulates here. The records go to `file.partial`, which is
 * fsynced and renamed only once the manifest arrived and matches the bytes; an interrupted export leaves no file
 * that looks complete.
 */
export async function receiveExport(res: Response, file: string): Promise<ExportManifest> {
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith(EXPORT_STREAM_TYPE))
    throw new BootgateError('EXPORT_INCOMPLETE', `the appliance answered with ${type || 'no content type'}, not an export stream (older appliance?)`);
  if (!res.body) throw new BootgateError('EXPORT_INCOMPLETE', 'the export reply has no body');
  const part = `${file}.partial`;
  const fh = await open(part, 'w');
  let closed = false;
  try {
    const reader = new ExportStreamReader();
    const body = res.body.getReader();
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await body.read();
      } catch (e) {
        throw new BootgateError('EXPORT_INCOMPLETE', `the export stream broke off after ${reader.bytes} bytes: ${(e as Error).message}`);
      }
      if (r.done) break;
      const bytes = reader.push(r.value);
      if (bytes.length) await writeAll(fh, bytes);
    }
    const manifest = reader.end();
    await fh.sync();
    await fh.close();
    closed = true;
    await rename(part, file);
    const mf = await open(`${file}.manifest.json`, 'w');
    try {
      await writeAll(mf, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
      await mf.sync();
    } finally {
      await mf.close();
    }
    await fsyncDir(dirname(file));
    return manifest;
  } catch (e) {
    if (!closed) await fh.close().catch(() => undefined);
    await rm(part, { force: true });
    throw e;
  }
}
