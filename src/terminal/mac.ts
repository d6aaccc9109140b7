/**
 * A terminal's MAC address, parsed once where it enters (a DHCP chaddr, a config key, a URL parameter, an IQN)
 * and carried as one canonical form: six lowercase hex pairs joined by colons, `52:54:00:12:34:56`. The brand
 * keeps an unparsed string from being used where a `Mac` is expected; a `Mac` is still a string, so it is a
 * Map key, a SQLite value and a JSON field as it stands. Each wire format that spells it differently has one
 * formatter here.
 */
export type Mac = string & { readonly __brand: 'Mac' };

/** colon, hyphen or no separator (one kind throughout), any case; nothing around it (a newline is not a MAC) */
const MAC_TEXT = /^([0-9a-f]{2})([:-]?)([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;
/** the dotted form switches print (`5254.00ab.cdef`) */
const MAC_DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i;

/** `52:54:00:AB:CD:EF`, `52-54-00-ab-cd-ef`, `525400abcdef` or `5254.00ab.cdef` → the canonical Mac; undefined when not a MAC. */
export function tryParseMac(text: string): Mac | undefined {
  const m = MAC_TEXT.exec(text);
  if (m) return [m[1], m[3], m[4], m[5], m[6], m[7]].join(':').toLowerCase() as Mac;
  const d = MAC_DOTTED.exec(text);
  if (d) return (d[1]! + d[2]! + d[3]!).match(/../g)!.join(':').toLowerCase() as Mac;
  return undefined;
}

/** As tryParseMac, throwing a RangeError that quotes the input. */
export function parseMac(text: string): Mac {
  const mac = tryParseMac(text);
  if (mac === undefined) throw new RangeError(`not a MAC address: ${JSON.stringify(text)}`);
  return mac;
}

/** The first six bytes of a hardware address (DHCP chaddr, an Ethernet source) as a Mac. */
export function macFromBytes(bytes: Uint8Array): Mac {
  if (bytes.length < 6) throw new RangeError(`a MAC address is 6 bytes, got ${bytes.length}`);
  return [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':') as Mac;
}

/** The six bytes on the wire (DHCP chaddr, ARP). */
export function macBytes(mac: Mac): Buffer {
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}

/**
 * `52-54-00-12-34-56`: iPXE's `${net0/mac:hexhyp}`, the form in per-terminal IQNs, overlay file names and
 * script URLs (a colon is not allowed in an IQN's unique part's path uses, nor portable in a file name).
 */
export function macHyphens(mac: Mac): string {
  return mac.replaceAll(':', '-');
}

/**
 * A DHCP chaddr of any length (hlen 1-16; RFC 2131 §2) in the same colon-hex text, so a 6-byte Ethernet
 * address reads exactly as its Mac and other hardware types still key a lease.
 */
export function hardwareAddressText(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
