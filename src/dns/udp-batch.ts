import { createRequire } from 'node:module';
import { formatIp } from '../wire/ip-address.ts';

/** src/native/dns_udp.c: recvmmsg/sendmmsg on a socket polled on Node's loop. */
interface DnsUdpAddon {
  dnsUdpOpen(
    address: string,
    port: number,
    input: Buffer,
    inputMeta: Buffer,
    output: Buffer,
    outputMeta: Buffer,
    onBatch: (count: number) => void,
  ): { port: number; batch: number; slot: number; meta: number };
  dnsUdpSend(sock: object, count: number): number;
  dnsUdpSendOne(sock: object, buf: Buffer, meta: Buffer): number;
  dnsUdpClose(sock: object): void;
}

/** dns_udp.c's sizes (it reports them on open and the buffers are made to match) */
const BATCH = 32;
const SLOT = 65536;
const META = 32;
/** room for the replies of one batch: 32 answers of up to maxUdpPayloadBytes (4096) */
const OUT_BYTES = BATCH * 4096;

/** The addon, or undefined when it is not built (the server then uses node:dgram). */
export function loadDnsUdpAddon(): DnsUdpAddon | undefined {
  try {
    const require = createRequire(import.meta.url);
    const a = require('../../build/Release/bootgate_net.node') as Partial<DnsUdpAddon>;
    return typeof a.dnsUdpOpen === 'function' ? (a as DnsUdpAddon) : undefined;
  } catch {
    return undefined;
  }
}

/** What the socket hands each datagram: reply now (a Buffer), later (a promise) or never (undefined). */
export type DatagramHandler = (query: Buffer, clientIp: string) => Buffer | undefined | Promise<Buffer | undefined>;

export interface BatchSocketEvents {
  /** a reply could not be sent (the socket buffer was full, or the peer's address was refused) */
  onSendFailed: () => void;
}

/**
 * A UDP socket read and written in batches: one recvmmsg per readable event hands up to 32 datagrams to the
 * handler, the replies ready at once leave in one sendmmsg; later replies (forwarded queries) are sent one by one.
 * The query Buffers are views into the receive buffer, valid only during the handler's synchronous part (the
 * resolver decodes what it keeps before it awaits anything).
 */
export class BatchUdpSocket {
  readonly port: number;
  private readonly sock: object;
  private readonly input = Buffer.alloc(BATCH * SLOT);
  private readonly inputMeta = Buffer.alloc(BATCH * META);
  private readonly output = Buffer.alloc(OUT_BYTES);
  private readonly outputMeta = Buffer.alloc(BATCH * META);
  /** peer address strings by IPv4 value: a LAN has few clients, and the hot path builds no string */
  private readonly v4Names = new Map<number, string>();
  private closed = false;

  constructor(
    private readonly addon: DnsUdpAddon,
    address: string,
    port: number,
    private readonly handler: DatagramHandler,
    private readonly events: BatchSocketEvents,
  ) {
    const s = addon.dnsUdpOpen(address, port, this.input, this.inputMeta, this.output, this.outputMeta, (n) => this.onBatch(n));
    if (s.batch !== BATCH || s.slot !== SLOT || s.meta !== META) {
      addon.dnsUdpClose(s);
      throw new Error(`dns_udp addon sizes ${s.batch}/${s.slot}/${s.meta} differ from ${BATCH}/${SLOT}/${META}`);
    }
    this.sock = s;
    this.port = s.port;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.dnsUdpClose(this.sock);
  }

  private peer(m: number): string {
    const meta = this.inputMeta;
    if (meta[m + 7] === 4) {
      const v = meta.readUInt32BE(m + 16);
      let s = this.v4Names.get(v);
      if (s === undefined) {
        s = `${meta[m + 16]}.${meta[m + 17]}.${meta[m + 18]}.${meta[m + 19]}`;
        if (this.v4Names.size >= 65536) this.v4Names.clear();
        this.v4Names.set(v, s);
      }
      return s;
    }
    let v = 0n;
    for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(meta[m + 16 + i]!);
    return formatIp({ family: 6, value: v });
  }

  private onBatch(count: number): void {
    const meta = this.inputMeta;
    const out = this.output;
    const outMeta = this.outputMeta;
    let queued = 0;
    let pos = 0;
    for (let i = 0; i < count && !this.closed; i++) {
      const m = i * META;
      const off = meta.readUInt32BE(m);
      const query = this.input.subarray(off, off + meta.readUInt16BE(m + 4));
      const res = this.handler(query, this.peer(m));
      if (res === undefined) continue;
      if (res instanceof Promise) {
        const to = Buffer.from(meta.subarray(m, m + META));
        res.then(
          (r) => {
            if (r && !this.closed && this.addon.dnsUdpSendOne(this.sock, r, to) !== 0) this.events.onSendFailed();
          },
          () => undefined,
        );
        continue;
      }
      if (res.length > out.length) {
        // larger than a batch slot (a TCP-sized answer never comes here, but be safe): on its own
        if (this.addon.dnsUdpSendOne(this.sock, res, meta.subarray(m, m + META)) !== 0) this.events.onSendFailed();
        continue;
      }
      if (pos + res.length > out.length) {
        this.flush(queued);
        queued = 0;
        pos = 0;
      }
      res.copy(out, pos);
      const o = queued * META;
      meta.copy(outMeta, o, m, m + META);
      outMeta.writeUInt32BE(pos, o);
      outMeta.writeUInt16BE(res.length, o + 4);
      pos += res.length;
      queued++;
    }
    if (queued > 0) this.flush(queued);
  }

  private flush(n: number): void {
    if (this.closed) return;
    const sent = this.addon.dnsUdpSend(this.sock, n);
    for (let i = sent; i < n; i++) this.events.onSendFailed();
  }
}
