import type { AuditRow, OpenRow } from './audit-repository.ts';

/** Main thread → audit writer thread. */
export type ToAuditWriter =
  /** rows: consecutive chain records; opens/closes: audit_open rows to insert and ids to delete, same transaction */
  { t: 'write'; id: number; rows: AuditRow[]; opens?: OpenRow[]; closes?: number[] } | { t: 'close' };

/** Audit writer thread → main thread (always an array: one message per turn of the writer). */
export type FromAuditWriter = { t: 'ready'; tail: number } | { t: 'done'; id: number; error?: { code: string; message: string } } | { t: 'closed' };
