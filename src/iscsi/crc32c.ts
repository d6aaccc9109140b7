/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the iSCSI header and data digest (RFC 7143 §13.1,
 * RFC 3385). Table-driven, slicing-by-8; no dependency. The digest goes on the wire little-endian
 * (RFC 7143 §11.1: "the CRC is transmitted ... least significant byte first"), so 32×0x00 → aa 36 91 8a.
 */
const POLY = 0x82f63b78;
const TABLES: Uint32Array[] = (() => {
  const t: Uint32Array[] = [];
  for (let k = 0; k < 8; k++) t.push(new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let i = 0; i < 8; i++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[0]![n]!;
    for (let k = 1; k < 8; k++) {
      c = t[0]![c & 0xff]! ^ (c >>> 8);
      t[k]![n] = c >>> 0;
    }
  }
  return t;
})();

/** Continues a CRC32C over `buf[start..end)`; start with crc = 0 (pre/post inversion done inside). */
export function crc32c(buf: Uint8Array, crc = 0, start = 0, end = buf.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let c = ~crc >>> 0;
  let i = start;
  while (i + 8 <= end) {
    const a = (c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    c =
      t7[a & 0xff]! ^
      t6[(a >>> 8) & 0xff]! ^
      t5[(a >>> 16) & 0xff]! ^
      t4[a >>> 24]! ^
      t3[buf[i + 4]!]! ^
      t2[buf[i + 5]!]! ^
      t1[buf[i + 6]!]! ^
      t0[buf[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = t0[(c ^ buf[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The 4 digest bytes as they appear on the wire. */
export function digestBytes(crc: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(crc >>> 0, 0);
  return b;
}
