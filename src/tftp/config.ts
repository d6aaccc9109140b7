import { z } from 'zod';

/** The `tftp:` config slice. Plug into the appliance schema as `tftp: tftpConfigSchema.prefault({})`. */
export const tftpConfigSchema = z.strictObject({
  /** directory served; every path is confined to it (realpath) */
  root: z.string().default('/srv/bootgate/tftp'),
  /** listening port for RRQs */
  port: z.int().min(1).max(65535).default(69),
  /** largest blksize answered (T7: MTU 1500 − 32 = 1468, so no DATA is IP-fragmented) */
  maxBlksize: z.int().min(8).max(65464).default(1468),
  /** largest windowsize answered (RFC 7440) */
  maxWindowsize: z.int().min(1).max(65535).default(64),
  /** retransmission timeout when the client did not ask for one (RFC 2349 timeout overrides it) */
  retransmitMs: z.int().min(50).max(255_000).default(1000),
  /** timed resends of one packet before the transfer is abandoned */
  retries: z.int().min(1).max(50).default(6),
  /** transfers served at once; more wait in a queue (not refused) */
  maxTransfers: z.int().min(1).max(10_000).default(64),
  /** queued requests beyond this are dropped (the client retries its RRQ) */
  maxQueue: z.int().min(0).max(100_000).default(4096),
  /** in-memory cache of hot files (NBPs, kernels, initrds), LRU by bytes */
  cacheBytes: z
    .int()
    .min(0)
    .default(512 * 1024 * 1024),
  /** files larger than this are never cached; they are read at an offset, a chunk at a time */
  cacheMaxFileBytes: z
    .int()
    .min(0)
    .default(128 * 1024 * 1024),
  /** read size for uncached files (rounded up to hold at least one window) */
  readChunkBytes: z
    .int()
    .min(4096)
    .max(64 * 1024 * 1024)
    .default(256 * 1024),
  /**
   * who sends the DATA of cached files: 'native' = the addon's C data path (one JS call per transfer, not per
   * datagram); 'js' = src/tftp/transfer.ts. Files read from disk always use the JS path (async reads).
   */
  dataPath: z.enum(['native', 'js']).default('native'),
  /** RRQs per second per source IP (token bucket) */
  rateLimit: z.strictObject({ perSourcePerSecond: z.number().positive().default(20), burst: z.int().min(1).default(100) }).prefault({}),
});
export type TftpConfig = z.output<typeof tftpConfigSchema>;
