import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { UpstreamAddress } from './config.ts';
import { TcpFramer, frame } from './tcp-framer.ts';

/** Why one exchange with one upstream failed. */
export class UpstreamError extends Error {
  constructor(
    readonly outcome: 'timeout' | 'error' | 'closed',
    message: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/**
 * One query/reply exchange with one upstream. `accept` sees every reply that arrives and says whether it answers
 * this query (ID, QR, question); the exchange waits on for a reply it accepts until the timeout, so a forged or
 * stray datagram neither ends nor poisons it. Rejects with UpstreamError.
 */
export interface UpstreamTransport {
  udp(to: UpstreamAddress, query: Buffer, accept: (reply: Buffer) => boolean, timeoutMs: number): Promise<Buffer>;
  tcp(to: UpstreamAddress, query: Buffer, accept: (reply: Buffer) => boolean, timeoutMs: number): Promise<Buffer>;
}

const family = (address: string): 'udp4' | 'udp6' => (address.includes(':') ? 'udp6' : 'udp4');

/**
 * Real sockets. UDP: a fresh socket per query on a kernel-chosen ephemeral port, connect()ed to the upstream so
 * the kernel discards datagrams from any other source and reports ICMP unreachable at once (RFC 5452 §9.2: source
 * port randomisation alongside the random ID). TCP: one connection per exchange, 2-byte length framing (RFC 1035
 * §4.2.2).
 */
export const socketTransport: UpstreamTransport = {
  udp: (to, query, accept, timeoutMs) =>
    new Promise((resolve, reject) => {
      const s = createSocket({
        type: family(to.address),
        lookup: (host, _o, cb) => (cb as (e: null, a: string, f: number) => void)(null, host, host.includes(':') ? 6 : 4),
      });
      let done = false;
      const finish = (err: UpstreamError | undefined, reply?: Buffer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        s.close();
        if (err) reject(err);
        else resolve(reply!);
      };
      const timer = setTimeout(() => finish(new UpstreamError('timeout', `no reply from ${to.address}:${to.port} in ${timeoutMs} ms`)), timeoutMs);
      s.on('error', (e) => finish(new UpstreamError('error', e.message)));
      s.on('message', (buf) => {
        if (accept(buf)) finish(undefined, buf);
      });
      s.connect(to.port, to.address, () => {
        if (done) return;
        s.send(query, (e) => {
          if (e) finish(new UpstreamError('error', e.message));
        });
      });
    }),

  tcp: (to, query, accept, timeoutMs) =>
    new Promise((resolve, reject) => {
      const framer = new TcpFramer();
      let done = false;
      const sock = connect({ host: to.address, port: to.port });
      const finish = (err: UpstreamError | undefined, reply?: Buffer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err);
        else resolve(reply!);
      };
      const timer = setTimeout(
        () => finish(new UpstreamError('timeout', `no TCP reply from ${to.address}:${to.port} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      sock.on('error', (e) => finish(new UpstreamError('error', e.message)));
      sock.on('close', () => finish(new UpstreamError('closed', `${to.address}:${to.port} closed the connection`)));
      sock.on('connect', () => {
        sock.write(frame(query));
      });
      sock.on('data', (chunk: Buffer) => {
        for (const msg of framer.push(chunk)) if (accept(msg)) return finish(undefined, msg);
      });
    }),
};
