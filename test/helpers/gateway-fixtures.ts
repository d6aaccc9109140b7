/**
 * A real ClientHello: the first bytes curl 7.88.1 (OpenSSL 3.0) sent to https://www.example-seat.test:<port>/,
 * captured with a plain TCP listener. One TLS record (type 22, version 3.1), SNI www.example-seat.test, ALPN h2 + http/1.1.
 */
export const CURL_CLIENT_HELLO_HEX =
  '1603010200010001fc0303c28b07cab022591858d81cc5d017de8adf15f9b49381c273c0c3486607faa24d20a78e1b1715f2' +
  '71ee4564614308edfa1ea76c35fac6bb55b0f033250ab5f8d6e5003e130213031301c02cc030009fcca9cca8ccaac02bc02f' +
  '009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010001750000001a0018' +
  '0000157777772e6578616d706c652d736561742e74657374000b000403000102000a00160014001d0017001e001900180100' +
  '01010102010301040010000e000c02683208687474702f312e31001600000017000000310000000d002a0028040305030603' +
  '080708080809080a080b080408050806040105010601030303010302040205020602002b0009080304030303020301002d00' +
  '020101003300260024001d002025a9119a06c3dfd6f1b683cf62014dd0e453e8e86cf9aae20b9b238278913a59001500a800' +
  '0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '0000000000000000000000000000000000';

export interface HelloSpec {
  serverName?: string;
  alpn?: string[];
  sessionId?: Buffer;
  cipherSuites?: number[];
  /** extra extensions (type, data) placed before server_name */
  extra?: Array<[number, Buffer]>;
  /** omit the extensions block entirely (TLS 1.2 allows it) */
  noExtensions?: boolean;
}

const u16 = (n: number) => Buffer.from([(n >> 8) & 255, n & 255]);
const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), u16(data.length), data]);

/** Builds a ClientHello handshake message (header + body), RFC 8446 §4.1.2. */
export function buildClientHello(spec: HelloSpec = {}): Buffer {
  const sid = spec.sessionId ?? Buffer.alloc(32, 7);
  const suites = spec.cipherSuites ?? [0x1301, 0x1302, 0xc02f];
  const exts: Buffer[] = [];
  for (const [t, d] of spec.extra ?? []) exts.push(ext(t, d));
  if (spec.serverName !== undefined) {
    const name = Buffer.from(spec.serverName, 'latin1');
    const entry = Buffer.concat([Buffer.from([0]), u16(name.length), name]);
    exts.push(ext(0, Buffer.concat([u16(entry.length), entry])));
  }
  if (spec.alpn?.length) {
    const list = Buffer.concat(spec.alpn.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])));
    exts.push(ext(16, Buffer.concat([u16(list.length), list])));
  }
  const extBlock = Buffer.concat(exts);
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 0xab),
    Buffer.from([sid.length]),
    sid,
    u16(suites.length * 2),
    Buffer.concat(suites.map(u16)),
    Buffer.from([1, 0]),
    spec.noExtensions ? Buffer.alloc(0) : Buffer.concat([u16(extBlock.length), extBlock]),
  ]);
  const len = body.length;
  return Buffer.concat([Buffer.from([1, (len >> 16) & 255, (len >> 8) & 255, len & 255]), body]);
}

/** Wraps a handshake message into TLS records of at most `fragment` bytes each (RFC 8446 §5.1). */
export function toRecords(handshake: Buffer, fragment = 16384): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < handshake.length; i += fragment) {
    const part = handshake.subarray(i, i + fragment);
    out.push(Buffer.from([22, 3, 1]), u16(part.length), part);
  }
  return Buffer.concat(out);
}
