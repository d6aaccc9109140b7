import type { AuditRecord } from '../audit/record.ts';

/** Main thread → audit writer thread. */
export type ToAuditWriter = { t: 'write'; id: number; records: AuditRecord[] } | { t: 'close' };

/** Audit writer thread → main thread (always an array: one message per turn of the writer). */
export type FromAuditWriter =
  | { t: 'ready'; tail: number }
  | { t: 'done'; id: number; error?: { code: string; message: string } }
  | { t: 'closed' };
