import { parseNumber } from './text.ts';

/**
 * Operational parameters of a session/connection (RFC 7143 §13) and the rules that combine the initiator's
 * offer with our preference. Defaults are the RFC's (what applies when a key is never negotiated).
 */
export interface SessionParams {
  headerDigest: boolean;
  dataDigest: boolean;
  /** the initiator's receive limit: the largest data segment we may send */
  initiatorMaxRecvDataSegmentLength: number;
  /** our receive limit, declared to the initiator */
  targetMaxRecvDataSegmentLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxBurstLength: number;
  firstBurstLength: number;
  maxOutstandingR2T: number;
  errorRecoveryLevel: number;
  dataPduInOrder: boolean;
  dataSequenceInOrder: boolean;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  maxConnections: number;
}

export const RFC_DEFAULTS: SessionParams = {
  headerDigest: false,
  dataDigest: false,
  initiatorMaxRecvDataSegmentLength: 8192,
  targetMaxRecvDataSegmentLength: 8192,
  initialR2T: true,
  immediateData: true,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  maxOutstandingR2T: 1,
  errorRecoveryLevel: 0,
  dataPduInOrder: true,
  dataSequenceInOrder: true,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxConnections: 1,
};

/** What the target would like; combined with the initiator's offers by each key's rule. */
export interface TargetPreferences {
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxOutstandingR2T: number;
  /** digests we accept, in our order of preference (the initiator's order wins, §13.1) */
  digests: Array<'CRC32C' | 'None'>;
}

export const DEFAULT_PREFERENCES: TargetPreferences = {
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 1048576,
  firstBurstLength: 262144,
  initialR2T: false,
  immediateData: true,
  maxOutstandingR2T: 8,
  digests: ['None', 'CRC32C'],
};

export type KeyOutcome =
  /** answer with this value */
  | { kind: 'answer'; value: string }
  /** accepted, nothing to answer (declarative key) */
  | { kind: 'silent' }
  /** RFC 7143 §6.2: we do not know the key */
  | { kind: 'not-understood' }
  /** RFC 7143 §6.2/§6.3: bad value (answer Reject; the negotiation keeps the current value) */
  | { kind: 'reject' }
  /** §6.2.1: the key does not matter with the values already chosen */
  | { kind: 'irrelevant' }
  /** a key that must not appear here (login failure, initiator error) */
  | { kind: 'invalid' };

const MAX_24 = 16777215;
type NumRule = { min: number; max: number; combine: 'min' | 'max' };
const NUMERIC: Record<string, NumRule & { field: keyof SessionParams; pref?: keyof TargetPreferences; ours?: number }> = {
  MaxBurstLength: { min: 512, max: MAX_24, combine: 'min', field: 'maxBurstLength', pref: 'maxBurstLength' },
  FirstBurstLength: { min: 512, max: MAX_24, combine: 'min', field: 'firstBurstLength', pref: 'firstBurstLength' },
  MaxOutstandingR2T: { min: 1, max: 65535, combine: 'min', field: 'maxOutstandingR2T', pref: 'maxOutstandingR2T' },
  ErrorRecoveryLevel: { min: 0, max: 2, combine: 'min', field: 'errorRecoveryLevel', ours: 0 },
  DefaultTime2Wait: { min: 0, max: 3600, combine: 'max', field: 'defaultTime2Wait', ours: 2 },
  DefaultTime2Retain: { min: 0, max: 3600, combine: 'min', field: 'defaultTime2Retain', ours: 20 },
  MaxConnections: { min: 1, max: 65535, combine: 'min', field: 'maxConnections', ours: 1 },
};
type BoolRule = { combine: 'or' | 'and'; field: keyof SessionParams; pref?: keyof TargetPreferences; ours?: boolean };
const BOOLEAN: Record<string, BoolRule> = {
  InitialR2T: { combine: 'or', field: 'initialR2T', pref: 'initialR2T' },
  ImmediateData: { combine: 'and', field: 'immediateData', pref: 'immediateData' },
  DataPDUInOrder: { combine: 'or', field: 'dataPduInOrder', ours: true },
  DataSequenceInOrder: { combine: 'or', field: 'dataSequenceInOrder', ours: true },
};

/** Keys that are only legal during login (RFC 7143 §13: "LO"/"IO" usage). */
const LOGIN_ONLY = new Set([
  ...Object.keys(NUMERIC),
  ...Object.keys(BOOLEAN),
  'HeaderDigest',
  'DataDigest',
  'SessionType',
  'InitiatorName',
  'TargetName',
  'InitiatorAlias',
  'AuthMethod',
  'OFMarker',
  'IFMarker',
  'OFMarkInt',
  'IFMarkInt',
  'iSCSIProtocolLevel',
]);
/** Declared by the target only; an initiator must not send them. */
const TARGET_ONLY = new Set(['TargetAlias', 'TargetAddress', 'TargetPortalGroupTag']);

/**
 * Decides one operational key (login operational stage, or a Text request in full feature phase when
 * `fullFeature`). Mutates `params` with the negotiated result.
 */
export function negotiateKey(key: string, value: string, params: SessionParams, prefs: TargetPreferences, fullFeature: boolean): KeyOutcome {
  // Answers to something we offered, not offers (§6.2): nothing to do.
  if (value === 'NotUnderstood' || value === 'Irrelevant' || value === 'Reject') return { kind: 'silent' };
  if (key.startsWith('X-') || key.startsWith('X#') || key.startsWith('Z-')) return { kind: 'not-understood' };
  if (TARGET_ONLY.has(key)) return { kind: 'reject' };
  if (fullFeature && LOGIN_ONLY.has(key)) return { kind: 'reject' };

  if (key === 'MaxRecvDataSegmentLength') {
    const n = parseNumber(value);
    if (!(n >= 512 && n <= MAX_24)) return { kind: 'reject' };
    params.initiatorMaxRecvDataSegmentLength = n; // declarative (§13.12): no answer needed; we declare ours separately
    return { kind: 'silent' };
  }
  const num = NUMERIC[key];
  if (num) {
    const n = parseNumber(value);
    if (!(n >= num.min && n <= num.max)) return { kind: 'reject' };
    const ours = num.pref ? (prefs[num.pref] as number) : num.ours!;
    let result = num.combine === 'min' ? Math.min(n, ours) : Math.max(n, ours);
    if (key === 'FirstBurstLength') result = Math.min(result, params.maxBurstLength);
    (params[num.field] as number) = result;
    return { kind: 'answer', value: String(result) };
  }
  const bool = BOOLEAN[key];
  if (bool) {
    if (value !== 'Yes' && value !== 'No') return { kind: 'reject' };
    const theirs = value === 'Yes';
    const ours = bool.pref ? (prefs[bool.pref] as boolean) : bool.ours!;
    const result = bool.combine === 'or' ? theirs || ours : theirs && ours;
    (params[bool.field] as boolean) = result;
    return { kind: 'answer', value: result ? 'Yes' : 'No' };
  }
  switch (key) {
    case 'HeaderDigest':
    case 'DataDigest': {
      // §13.1: a list; we answer with the first one we support, in the initiator's order.
      const offered = value.split(',');
      if (offered.some((v) => v === '')) return { kind: 'reject' };
      const pick = offered.find((v) => (prefs.digests as string[]).includes(v));
      if (!pick) return { kind: 'reject' };
      if (key === 'HeaderDigest') params.headerDigest = pick === 'CRC32C';
      else params.dataDigest = pick === 'CRC32C';
      return { kind: 'answer', value: pick };
    }
    case 'OFMarker':
    case 'IFMarker':
      // RFC 7143 §13.25 (obsolete markers): we never use them; AND with No is No.
      if (value !== 'Yes' && value !== 'No') return { kind: 'reject' };
      return { kind: 'answer', value: 'No' };
    case 'OFMarkInt':
    case 'IFMarkInt':
      return { kind: 'irrelevant' };
    case 'iSCSIProtocolLevel': {
      // RFC 7144 §2.1: the minimum; we implement RFC 7143 (level 1).
      const n = parseNumber(value);
      if (!(n >= 0 && n <= 31)) return { kind: 'reject' };
      return { kind: 'answer', value: String(Math.min(n, 1)) };
    }
    case 'InitiatorAlias':
      return { kind: 'silent' };
    default:
      return { kind: 'not-understood' };
  }
}

export function outcomeValue(o: KeyOutcome): string | undefined {
  switch (o.kind) {
    case 'answer':
      return o.value;
    case 'not-understood':
      return 'NotUnderstood';
    case 'reject':
      return 'Reject';
    case 'irrelevant':
      return 'Irrelevant';
    default:
      return undefined;
  }
}
