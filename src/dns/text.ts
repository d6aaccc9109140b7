import type { DnsRecord } from './codec.ts';
import { typeName } from './constants.ts';

const MAX_TEXT = 80;

/** One RR as short text for the query hook (audit): "A 10.0.0.5", "CNAME cdn.example.net", "TXT \"v=spf1 …\"". */
export function recordText(rr: DnsRecord): string {
  const t = typeName(rr.type);
  const d = rr.data;
  let s: string;
  switch (d.kind) {
    case 'a':
    case 'aaaa':
      s = `${t} ${d.address}`;
      break;
    case 'name':
      s = `${t} ${d.target}`;
      break;
    case 'mx':
      s = `MX ${d.preference} ${d.exchange}`;
      break;
    case 'txt':
      s = `TXT ${JSON.stringify(Buffer.concat(d.strings).toString('latin1'))}`;
      break;
    case 'soa':
      s = `SOA ${d.mname} ${d.rname} ${d.serial}`;
      break;
    case 'raw':
      s = `${t} (${d.bytes.length} bytes)`;
      break;
  }
  return s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT - 1)}…` : s;
}
