import type { AuditLog } from '../audit/log.ts';
import type { AuditRecordInput, AuditSink, SeatLookup } from '../gateway/seats-and-audit.ts';
import { admitted, type SeatDirectory } from '../identity/seat-directory.ts';

/**
 * The gateway's and the platforms' view of the seat directory: only a seat with an open session that is not paused
 * is someone (a paused seat gets what a seat without a session gets: the portal, no internet).
 */
export function seatLookup(directory: SeatDirectory): SeatLookup {
  return {
    lookupByIp: (ip) => {
      const o = directory.lookupByIp(ip);
      if (!admitted(o)) return undefined;
      const user = {
        id: o.user.id,
        name: o.user.name,
        docType: o.user.docType,
        docNumber: o.user.docNumber,
        ...(o.user.docCountry ? { docCountry: o.user.docCountry } : {}),
      };
      return { seat: o.seat.name, mac: o.mac, user, sessionId: o.session.id };
    },
  };
}

/** The proxies' audit sink on the audit log, which stamps each record with its commit time (time never decreases along the chain). */
export function auditSink(log: AuditLog): AuditSink {
  const withoutTime = ({ time: _time, ...fields }: AuditRecordInput) => fields;
  return {
    append: async (r, openId) => void (await log.append(withoutTime(r), openId)),
    open: (r) => log.open(withoutTime(r)),
  };
}
