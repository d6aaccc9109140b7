import { z } from 'zod';
import { ipv4Field, portField } from '../config/fields.ts';

/** The `http:` config slice, read by the HTTP boot server as parsed. */
export const httpConfigSchema = z.strictObject({
  /** listen address; the LAN address keeps the boot server off the WAN side */
  listen: ipv4Field.default('0.0.0.0'),
  port: portField.default(80),
  /** boot files; default: tftp.root (the appliance resolves it) */
  root: z.string().optional(),
  /** base URL written into iPXE scripts; default: the address and port the terminal connected to */
  publicBaseUrl: z.string().url().optional(),
  /** read size for streamed files */
  readChunkBytes: z
    .int()
    .min(4096)
    .max(64 << 20)
    .default(1 << 20),
  /** buffers per streamed transfer */
  readBuffers: z.int().min(1).max(64).default(4),
  /** large files go from the page cache to the socket with sendfile(2) (false: read + write through buffers) */
  sendfile: z.boolean().default(true),
  /** files up to this size are served from memory */
  smallFileBytes: z
    .int()
    .min(0)
    .default(64 << 10),
  /** memory for cached small files */
  cacheBytes: z
    .int()
    .min(0)
    .default(64 << 20),
  /** cached small files are re-checked on disk this often */
  revalidateMs: z.int().min(0).default(1000),
  /** extra processes sharing the listener for boot files (0: all in the main process) */
  workers: z.int().min(0).max(64).default(0),
  /** open connections one client address may hold (per process); more are closed at once; 0: no limit */
  maxConnectionsPerClient: z.int().min(0).default(64),
});
export type HttpConfig = z.output<typeof httpConfigSchema>;
/** What the server reads: the slice with its boot-file root resolved. */
export type HttpBootConfig = Omit<HttpConfig, 'root'> & { root: string };
