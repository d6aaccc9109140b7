/**
 * One HTTP GET of the storm drivers (bench/storm/storm.ts, full-storm.ts): the body kept when asked, its bytes
 * counted, optionally hashed (sha256) as it streams, optionally from a given local address (a terminal's lease).
 */
import { createHash } from 'node:crypto';
import { get, type Agent } from 'node:http';

export interface GetResult {
  status: number;
  body: Buffer;
  bytes: number;
  /** hex sha256 of the body when `hash` was asked, else '' */
  sha: string;
}

export function httpGet(url: string, agent: Agent, opts: { keep?: boolean; hash?: boolean; localAddress?: string } = {}): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    get(url, { agent, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      let bytes = 0;
      const parts: Buffer[] = [];
      const h = opts.hash ? createHash('sha256') : undefined;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        h?.update(d);
        if (opts.keep) parts.push(d);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), bytes, sha: h?.digest('hex') ?? '' }));
      res.on('error', reject);
    }).on('error', reject);
  });
}
