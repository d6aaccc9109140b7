/**
 * What the gateway needs from the rest of bootgate, as two small interfaces (identity and audit satisfy them;
 * the composition root wires them). The gateway never reads the store itself.
 */

export interface SeatUser {
  id: string;
  name: string;
  docType: string;
  docNumber: string;
  docCountry?: string;
}

/** The open session at a seat address. */
export interface SeatSession {
  seat: string;
  mac: string;
  user: SeatUser;
  sessionId: string;
}

export interface SeatLookup {
  /** undefined: no open session at this address, so the gateway refuses the connection. */
  lookupByIp(ip: string): SeatSession | undefined;
}

export type AuditKind = 'http' | 'tunnel' | 'tls' | 'flow';
export type AuditVerdict = 'allowed' | 'refused' | 'error';

export interface AuditRecordInput {
  time: string;
  seat: string;
  ip: string;
  mac: string;
  userId: string;
  userName: string;
  docType: string;
  docNumber: string;
  /** the document's issuing country, when the person's record has one */
  docCountry?: string;
  sessionId: string;
  kind: AuditKind;
  method?: string;
  host: string;
  port: number;
  /** HTTP only */
  url?: string;
  /** TLS only */
  sni?: string;
  status?: number;
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  verdict: AuditVerdict;
  /**
   * JSON. flow: what the kernel saw (start and end times, packets each way, conntrack id); proxied kinds: `dst`, the
   * address:port actually dialled, `hostMismatch` when the Host field or SNI named another place, and for a refusal
   * `reason` (destination policy, src/gateway/destination/)
   */
  detail?: string;
}

export interface AuditSink {
  /**
   * Resolves once the record is durably committed (group commit). `openId`: what open() returned for the
   * connection this record describes.
   */
  append(record: AuditRecordInput, openId?: number): Promise<void>;
  /**
   * A connection whose record comes when it closes (a tunnel) has opened: the sink keeps a note of it, so that a
   * crash before the close still leaves a record ("interrupted"). Not awaited. Optional: a sink without it simply
   * has no record of connections a crash cut.
   */
  open?(record: AuditRecordInput): number;
}
