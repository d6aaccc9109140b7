import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DestinationPolicy } from '../../src/gateway/destination/policy.ts';
import type { AuditRecordInput, AuditSink, SeatLookup, SeatSession } from '../../src/gateway/seats-and-audit.ts';

/** Seat sessions held in memory, opened and closed by the test. */
export class MemorySeats implements SeatLookup {
  readonly byIp = new Map<string, SeatSession>();
  lookupByIp(ip: string): SeatSession | undefined {
    return this.byIp.get(ip);
  }
}

/** Audit records kept in memory; `waitFor` resolves once `n` records have arrived. */
export class MemoryAudit implements AuditSink {
  readonly records: AuditRecordInput[] = [];
  private waiters: Array<() => void> = [];
  async append(r: AuditRecordInput): Promise<void> {
    this.records.push(r);
    for (const w of this.waiters.splice(0)) w();
  }
  async waitFor(n: number, timeoutMs = 10_000): Promise<AuditRecordInput[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.records.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.records.length} of ${n} audit records`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100).unref();
      });
    }
    return this.records;
  }
}

export function session(seat: string, userId = 'u-1'): SeatSession {
  return {
    seat,
    mac: '52:54:00:76:00:10',
    sessionId: `s-${seat}`,
    user: { id: userId, name: 'Ana Pérez', docType: 'passport', docNumber: 'X1234567', docCountry: 'ES' },
  };
}

/** A lookup that resolves the given names to fixed addresses (no DNS in tests). */
export function staticLookup(map: Record<string, string>): LookupFunction {
  return ((hostname: string, options: unknown, cb: (...a: unknown[]) => void) => {
    const addr = map[hostname.toLowerCase()] ?? (/^\d+\.\d+\.\d+\.\d+$/.test(hostname) ? hostname : undefined);
    const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
    if (!addr) return process.nextTick(cb, Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    if (all) process.nextTick(cb, null, [{ address: addr, family: 4 }]);
    else process.nextTick(cb, null, addr, 4);
  }) as LookupFunction;
}

/** A self-signed certificate for `names`, made with openssl at test time. */
export function selfSignedCert(names: string[]): { key: string; cert: string; dir: string; certPath: string; keyPath: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'bggw-cert-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${names[0]}`,
      '-addext',
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { stdio: 'pipe' },
  );
  return {
    key: readFileSync(keyPath, 'utf8'),
    cert: readFileSync(certPath, 'utf8'),
    dir,
    certPath,
    keyPath,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The gateway's destination policy for tests whose origin servers listen on loopback: 127.0.0.0/8 allow-listed
 * (the appliance's config refuses that; here it stands for "the shop's own servers"), no gateway addresses,
 * names answered by `map`.
 */
export function loopbackDestinations(map: Record<string, string> = {}, allow: string[] = ['127.0.0.0/8']): DestinationPolicy {
  return new DestinationPolicy({ options: { allow, lanSubnets: [] }, gatewayAddresses: () => [], lookup: staticLookup(map) });
}
