import type { BlockDevice } from './block-device.ts';

/**
 * The commands we implement, with their CDB USAGE DATA (SPC-4 §6.35.3: bit set = the device server checks or
 * uses that bit of the CDB), and REPORT SUPPORTED OPERATION CODES built from them (SPC-4 §6.35). The table is
 * the one place that says what we support: scsi.ts dispatches the same opcodes, and a unit test checks that every
 * opcode here is answered by something other than INVALID COMMAND OPERATION CODE.
 */
export interface SupportedCommand {
  op: number;
  /** service action (SERVACTV=1) for opcodes that have them */
  sa?: number;
  /** CDB USAGE DATA; its length is the CDB length; byte 0 is the opcode */
  usage: number[];
}

const FF4 = [0xff, 0xff, 0xff, 0xff];
const FF8 = [...FF4, ...FF4];
/** 10-byte LBA + GROUP NUMBER + TRANSFER LENGTH commands, `b1` the flags byte (DPO 0x10, FUA 0x08, ...) */
const ten = (op: number, b1: number): SupportedCommand => ({ op, usage: [op, b1, ...FF4, 0x1f, 0xff, 0xff, 0x00] });
const twelve = (op: number, b1: number): SupportedCommand => ({ op, usage: [op, b1, ...FF4, ...FF4, 0x1f, 0x00] });
const sixteen = (op: number, b1: number): SupportedCommand => ({ op, usage: [op, b1, ...FF8, ...FF4, 0x1f, 0x00] });

/** Read/write flags: DPO and FUA accepted (MODE SENSE DPOFUA=1, SBC-3 §6.4.1) */
const DPO_FUA = 0x18;
/** VERIFY: DPO, BYTCHK (2 bits, SBC-3 §5.33) */
const DPO_BYTCHK2 = 0x16;
/** WRITE AND VERIFY: DPO, BYTCHK (SBC-3 §5.38) */
const DPO_BYTCHK = 0x12;

export function supportedCommands(d: BlockDevice | undefined): SupportedCommand[] {
  const unmap = d?.supportsUnmap ?? false;
  return [
    { op: 0x00, usage: [0x00, 0, 0, 0, 0, 0] }, // TEST UNIT READY
    { op: 0x03, usage: [0x03, 0x01, 0, 0, 0xff, 0] }, // REQUEST SENSE
    { op: 0x08, usage: [0x08, 0x1f, 0xff, 0xff, 0xff, 0] }, // READ(6)
    { op: 0x0a, usage: [0x0a, 0x1f, 0xff, 0xff, 0xff, 0] }, // WRITE(6)
    { op: 0x12, usage: [0x12, 0x01, 0xff, 0xff, 0xff, 0] }, // INQUIRY
    { op: 0x16, usage: [0x16, 0, 0, 0, 0, 0] }, // RESERVE(6)
    { op: 0x17, usage: [0x17, 0, 0, 0, 0, 0] }, // RELEASE(6)
    { op: 0x1a, usage: [0x1a, 0x08, 0xff, 0xff, 0xff, 0] }, // MODE SENSE(6)
    { op: 0x1b, usage: [0x1b, 0x01, 0, 0x0f, 0xf7, 0] }, // START STOP UNIT
    { op: 0x1e, usage: [0x1e, 0, 0, 0, 0x03, 0] }, // PREVENT ALLOW MEDIUM REMOVAL
    { op: 0x25, usage: [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] }, // READ CAPACITY(10)
    ten(0x28, DPO_FUA), // READ(10)
    ten(0x2a, DPO_FUA), // WRITE(10)
    ten(0x2e, DPO_BYTCHK), // WRITE AND VERIFY(10)
    ten(0x2f, DPO_BYTCHK2), // VERIFY(10)
    ten(0x34, 0x02), // PRE-FETCH(10): IMMED
    ten(0x35, 0x02), // SYNCHRONIZE CACHE(10): IMMED
    ten(0x41, unmap ? 0x08 : 0), // WRITE SAME(10): UNMAP
    ...(unmap ? [{ op: 0x42, usage: [0x42, 0, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0] }] : []), // UNMAP
    { op: 0x5a, usage: [0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0] }, // MODE SENSE(10)
    // PERSISTENT RESERVE IN / OUT, one descriptor per service action we answer (SPC-4 §6.15, §6.16)
    ...[0, 1, 2, 3].map((sa) => ({ op: 0x5e, sa, usage: [0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0] })),
    ...[0, 1, 2, 3, 4, 6].map((sa) => ({ op: 0x5f, sa, usage: [0x5f, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0] })),
    sixteen(0x88, DPO_FUA), // READ(16)
    { op: 0x89, usage: [0x89, DPO_FUA, ...FF8, 0, 0, 0, 0xff, 0x1f, 0] }, // COMPARE AND WRITE
    sixteen(0x8a, DPO_FUA), // WRITE(16)
    sixteen(0x8b, DPO_FUA), // ORWRITE(16)
    sixteen(0x8e, DPO_BYTCHK), // WRITE AND VERIFY(16)
    sixteen(0x8f, DPO_BYTCHK2), // VERIFY(16)
    sixteen(0x90, 0x02), // PRE-FETCH(16)
    sixteen(0x91, 0x02), // SYNCHRONIZE CACHE(16)
    sixteen(0x93, unmap ? 0x09 : 0x01), // WRITE SAME(16): UNMAP, NDOB
    { op: 0x9e, sa: 0x10, usage: [0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, ...FF4, 0, 0] }, // READ CAPACITY(16)
    { op: 0x9e, sa: 0x12, usage: [0x9e, 0x1f, ...FF8, ...FF4, 0, 0] }, // GET LBA STATUS
    { op: 0xa0, usage: [0xa0, 0, 0xff, 0, 0, 0, ...FF4, 0, 0] }, // REPORT LUNS
    { op: 0xa3, sa: 0x0c, usage: [0xa3, 0x1f, 0x87, 0xff, 0xff, 0xff, ...FF4, 0, 0] }, // REPORT SUPPORTED OPERATION CODES
    twelve(0xa8, DPO_FUA), // READ(12)
    twelve(0xaa, DPO_FUA), // WRITE(12)
    twelve(0xae, DPO_BYTCHK), // WRITE AND VERIFY(12)
    twelve(0xaf, DPO_BYTCHK2), // VERIFY(12)
  ];
}

/** Opcodes that have service actions (so reporting option 1 is refused for them, SPC-4 §6.35.1 table 305). */
const hasServiceActions = (cmds: SupportedCommand[], op: number): boolean => cmds.some((c) => c.op === op && c.sa !== undefined);

/** Command timeouts descriptor (SPC-4 §6.35.4): 12 bytes, no timeouts known (0 = not specified). */
const timeouts = (): Buffer => {
  const t = Buffer.alloc(12);
  t.writeUInt16BE(0x0a, 0);
  return t;
};

export type RsocOutcome = { ok: Buffer } | { badFieldByte: number };

/** REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN, service action 0x0C; SPC-4 §6.35). */
export function reportSupportedOpcodes(cdb: Buffer, d: BlockDevice | undefined): RsocOutcome {
  const rctd = (cdb[2]! & 0x80) !== 0;
  const options = cdb[2]! & 0x07;
  const op = cdb[3]!;
  const sa = cdb.readUInt16BE(4);
  const cmds = supportedCommands(d);
  if (options === 0) {
    // all commands: 4-byte header, then 8-byte descriptors (+12 with CTDP) (SPC-4 §6.35.2)
    const descs = cmds.map((c) => {
      const b = Buffer.alloc(8);
      b[0] = c.op;
      b.writeUInt16BE(c.sa ?? 0, 2);
      b[5] = (rctd ? 0x02 : 0) | (c.sa !== undefined ? 0x01 : 0); // CTDP, SERVACTV
      b.writeUInt16BE(c.usage.length, 6);
      return rctd ? Buffer.concat([b, timeouts()]) : b;
    });
    const body = Buffer.concat(descs);
    const hdr = Buffer.alloc(4);
    hdr.writeUInt32BE(body.length, 0);
    return { ok: Buffer.concat([hdr, body]) };
  }
  if (options !== 1 && options !== 2) return { badFieldByte: 2 };
  // one command (SPC-4 §6.35.3): option 1 names an opcode without service actions, option 2 one with
  if (options === 1 && hasServiceActions(cmds, op)) return { badFieldByte: 3 };
  if (options === 2 && !hasServiceActions(cmds, op) && cmds.some((c) => c.op === op)) return { badFieldByte: 3 };
  const found = cmds.find((c) => c.op === op && (options === 1 || c.sa === sa));
  const usage = found ? Buffer.from(found.usage) : Buffer.alloc(0);
  const hdr = Buffer.alloc(4);
  hdr[1] = (rctd ? 0x80 : 0) | (found ? 0x03 : 0x01); // CTDP; SUPPORT 011b supported / 001b not supported
  hdr.writeUInt16BE(usage.length, 2);
  return { ok: Buffer.concat([hdr, usage, ...(rctd ? [timeouts()] : [])]) };
}
