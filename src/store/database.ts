import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BootgateError } from '../errors.ts';
import { migrations } from './migrations.ts';

export type Db = Database.Database;

/**
 * Opens the appliance database: WAL so readers (CLI, API) never block the servers, then applies pending
 * migrations. Durability of a commit, against power loss as well as kill -9:
 *   syncInCommit true (default)  synchronous=FULL: COMMIT itself fsyncs the WAL, on the calling thread
 *   syncInCommit false           synchronous=NORMAL: the caller makes commits durable with a WalSync (the WAL
 *                                fsynced in the thread pool) before it acknowledges them — see wal-sync.ts
 */
export function openDatabase(file: string, opts: { readonly?: boolean; syncInCommit?: boolean } = {}): Db {
  if (!opts.readonly && file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  if (opts.readonly) return db;
  db.pragma('journal_mode = WAL');
  db.pragma(opts.syncInCommit === false ? 'synchronous = NORMAL' : 'synchronous = FULL');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const m of migrations) {
    if (m.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (e) {
      throw new BootgateError('STORE_MIGRATION', `migration ${m.version} (${m.name}) failed: ${(e as Error).message}`);
    }
  }
}
