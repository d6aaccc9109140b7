import type { AuditRow } from './audit-repository.ts';

/** Main thread → audit writer thread. */
export type ToAuditWriter = { t: 'write'; id: number; rows: AuditRow[] } | { t: 'close' };

/** Audit writer thread → main thread (always an array: one message per turn of the writer). */
export type FromAuditWriter =
  | { t: 'ready'; tail: number }
  | { t: 'done'; id: number; error?: { code: string; message: string } }
  | { t: 'closed' };
