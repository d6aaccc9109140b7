/**
 * A boot's iSCSI working set, decoded from a tcpdump capture (`tcpdump -w`, Ethernet) of port 3260 by our own PDU
 * framer (src/iscsi/framer.ts): each TCP connection from initiator to target is reassembled in sequence order
 * (retransmitted bytes dropped), framed into PDUs, and every SCSI Command (RFC 7143 §11.3) is kept with its CDB,
 * its issue time and the time its status came back (the SCSI Response, or the Data-In carrying status, §11.7.1,
 * matched by Initiator Task Tag). The login keys each initiator offered (§13) are kept too, so a replay logs in as
 * that initiator did. Used by bench/storm/record-working-set.ts (writes the fixture) and bench/storm/full-storm.ts
 * (replays it per simulated terminal).
 */
import { Op } from '../../src/iscsi/constants.ts';
import { PduFramer, type FramedPdu } from '../../src/iscsi/framer.ts';
import { decodeText } from '../../src/iscsi/text.ts';
import { readPcap } from '../../test/helpers/pcap.ts';

export interface TraceCommand {
  /** ms from the session's first SYN to the command's PDU */
  t: number;
  /** ms from the session's first SYN to its status; -1 if it never came (the connection was abandoned) */
  done: number;
  /** the CDB, hex, trailing zero bytes of the 16-byte field trimmed to the opcode's CDB length */
  cdb: string;
  /** 'r' Data-In expected, 'w' Data-Out, '' neither (BHS R/W bits) */
  dir: 'r' | 'w' | '';
  /** Expected Data Transfer Length */
  bytes: number;
  /** READ/WRITE(6/10/12/16) only: first block and block count */
  lba?: number;
  blocks?: number;
}

export interface TraceSession {
  /** ms from the capture's first SYN to this session's SYN */
  start: number;
  initiatorName: string;
  targetName: string;
  /** the keys the initiator sent during login, in order (its offer; the target answered) */
  loginKeys: [string, string][];
  /** ms from SYN to the final login response */
  loginDone: number;
  commands: TraceCommand[];
}

export interface WorkingSet {
  note: string;
  blockSize: number;
  sessions: TraceSession[];
}

const CDB_LENGTH = (op: number): number => (op < 0x20 ? 6 : op < 0x60 ? 10 : op < 0xa0 ? 16 : 12);

/** READ/WRITE(6/10/12/16) → lba and block count (SBC-4 §5.8–5.11, §5.40–5.43); otherwise undefined. */
export function rwExtent(cdb: Buffer): { lba: number; blocks: number; write: boolean } | undefined {
  switch (cdb[0]) {
    case 0x08:
    case 0x0a:
      return { lba: cdb.readUIntBE(1, 3) & 0x1fffff, blocks: cdb[4] || 256, write: cdb[0] === 0x0a };
    case 0x28:
    case 0x2a:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7), write: cdb[0] === 0x2a };
    case 0xa8:
    case 0xaa:
      return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6), write: cdb[0] === 0xaa };
    case 0x88:
    case 0x8a:
      return { lba: Number(cdb.readBigUInt64BE(2)), blocks: cdb.readUInt32BE(10), write: cdb[0] === 0x8a };
    default:
      return undefined;
  }
}

interface Segment {
  seq: number;
  atUs: number;
  data: Buffer;
}

interface Flow {
  key: string;
  reverse: string;
  isn: number | undefined;
  synUs: number;
  segments: Segment[];
}

/** Ethernet II / IPv4 / TCP of one frame, or undefined. */
function tcpOf(d: Buffer): { src: string; dst: string; seq: number; syn: boolean; payload: Buffer } | undefined {
  if (d.length < 14 || d.readUInt16BE(12) !== 0x0800) return undefined;
  const ip = d.subarray(14);
  if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 6) return undefined;
  const ihl = (ip[0]! & 0x0f) * 4;
  const total = Math.min(ip.readUInt16BE(2), ip.length);
  const tcp = ip.subarray(ihl, total);
  if (tcp.length < 20) return undefined;
  const off = (tcp[12]! >> 4) * 4;
  const addr = (b: Buffer, o: number): string => `${[...b.subarray(o, o + 4)].join('.')}`;
  return {
    src: `${addr(ip, 12)}:${tcp.readUInt16BE(0)}`,
    dst: `${addr(ip, 16)}:${tcp.readUInt16BE(2)}`,
    seq: tcp.readUInt32BE(4),
    syn: (tcp[13]! & 0x02) !== 0,
    payload: tcp.subarray(off),
  };
}

/** The flow's bytes in order, each chunk with the capture time of the segment that carried it. */
function reassemble(f: Flow): Segment[] {
  if (f.isn === undefined) return [];
  const rel = f.segments.map((s) => ({ ...s, seq: (s.seq - f.isn! - 1) >>> 0 })).sort((a, b) => a.seq - b.seq || a.atUs - b.atUs);
  const out: Segment[] = [];
  let next = 0;
  for (const s of rel) {
    const end = s.seq + s.data.length;
    if (end <= next) continue; // a retransmission of bytes we have
    if (s.seq > next) throw new Error(`${f.key}: ${s.seq - next} bytes missing at offset ${next} (capture dropped packets?)`);
    out.push({ seq: next, atUs: s.atUs, data: s.data.subarray(next - s.seq) });
    next = end;
  }
  return out;
}

function framed(segs: Segment[], onPdu: (p: FramedPdu, atUs: number) => void): void {
  let at = 0;
  const framer = new PduFramer({ maxDataBytes: 1 << 24 }, (p) => onPdu(p, at));
  for (const s of segs) {
    at = s.atUs;
    framer.push(s.data);
  }
}

/** Decodes every iSCSI session (TCP connection to `port`) in a capture, in the order they began. */
export function decodeCapture(pcap: Buffer, port = 3260): TraceSession[] {
  const { records } = readPcap(pcap);
  const flows = new Map<string, Flow>();
  for (const r of records) {
    const t = tcpOf(r.data);
    if (!t) continue;
    let f = flows.get(`${t.src}>${t.dst}`);
    if (!f) {
      f = { key: `${t.src}>${t.dst}`, reverse: `${t.dst}>${t.src}`, isn: undefined, synUs: r.atUs, segments: [] };
      flows.set(f.key, f);
    }
    if (t.syn) {
      f.isn = t.seq;
      f.synUs = r.atUs;
    } else if (t.payload.length) f.segments.push({ seq: t.seq, atUs: r.atUs, data: Buffer.from(t.payload) });
  }
  const toTarget = [...flows.values()].filter((f) => f.key.endsWith(`:${port}`) && f.isn !== undefined).sort((a, b) => a.synUs - b.synUs);
  if (!toTarget.length) throw new Error(`no TCP connection to port ${port} with its SYN in the capture`);
  const t0 = toTarget[0]!.synUs;
  const ms = (us: number, base: number): number => Math.round((us - base) / 100) / 10;
  return toTarget.map((f) => {
    const base = f.synUs;
    const s: TraceSession = { start: ms(base, t0), initiatorName: '', targetName: '', loginKeys: [], loginDone: -1, commands: [] };
    const byItt = new Map<number, TraceCommand>();
    framed(reassemble(f), (p, at) => {
      const op = p.bhs[0]! & 0x3f;
      if (op === Op.LOGIN_REQ) {
        for (const [k, v] of decodeText(p.data)) {
          if (k === 'InitiatorName') s.initiatorName = v;
          else if (k === 'TargetName') s.targetName = v;
          else s.loginKeys.push([k, v]);
        }
      } else if (op === Op.SCSI_CMD) {
        const cdb16 = p.bhs.subarray(32, 48);
        const cdb = Buffer.from(cdb16.subarray(0, CDB_LENGTH(cdb16[0]!)));
        const flags = p.bhs[1]!;
        const c: TraceCommand = {
          t: ms(at, base),
          done: -1,
          cdb: cdb.toString('hex'),
          dir: flags & 0x40 ? 'r' : flags & 0x20 ? 'w' : '',
          bytes: p.bhs.readUInt32BE(20),
        };
        const e = rwExtent(cdb);
        if (e) Object.assign(c, { lba: e.lba, blocks: e.blocks });
        s.commands.push(c);
        byItt.set(p.bhs.readUInt32BE(16), c);
      }
    });
    const back = flows.get(f.reverse);
    if (back) {
      framed(reassemble(back), (p, at) => {
        const op = p.bhs[0]! & 0x3f;
        const itt = p.bhs.readUInt32BE(16);
        if (op === Op.LOGIN_RSP && p.bhs[1]! & 0x80 && (p.bhs[1]! & 3) === 3) s.loginDone = ms(at, base);
        else if (op === Op.SCSI_RSP || (op === Op.DATA_IN && p.bhs[1]! & 0x01)) {
          const c = byItt.get(itt);
          if (c && c.done < 0) c.done = ms(at, base);
        }
      });
    }
    return s;
  });
}

/** Totals of a session's commands (for the fixture's summary and the docs). */
export function summarize(s: TraceSession): {
  commands: number;
  reads: number;
  readBytes: number;
  writes: number;
  writeBytes: number;
  spanMs: number;
} {
  const reads = s.commands.filter((c) => c.dir === 'r' && c.lba !== undefined);
  const writes = s.commands.filter((c) => c.dir === 'w' && c.lba !== undefined);
  const last = s.commands.reduce((m, c) => Math.max(m, c.done, c.t), 0);
  return {
    commands: s.commands.length,
    reads: reads.length,
    readBytes: reads.reduce((a, c) => a + c.bytes, 0),
    writes: writes.length,
    writeBytes: writes.reduce((a, c) => a + c.bytes, 0),
    spanMs: last,
  };
}
