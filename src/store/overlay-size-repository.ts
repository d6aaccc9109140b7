import type { Db } from './database.ts';

/** The overlay sizes recorded at the end of iSCSI sessions (migration 7): the write-back growth per session. */
export class OverlaySizeRepository {
  private readonly s;

  constructor(db: Db) {
    this.s = {
      insert: db.prepare('INSERT INTO overlay_sizes (image, mac, mode, bytes, recorded_at) VALUES (@image, @mac, @mode, @bytes, @recordedAt)'),
      recent: db.prepare<[string, number], { bytes: number }>(
        'SELECT bytes FROM overlay_sizes WHERE image = ? ORDER BY recorded_at DESC, id DESC LIMIT ?',
      ),
    };
  }

  record(r: { image: string; mac: string; mode: string; bytes: number; recordedAt: number }): void {
    this.s.insert.run(r);
  }

  /** The sizes of the image's last `limit` sessions, newest first. */
  recent(image: string, limit: number): number[] {
    return this.s.recent.all(image, limit).map((r) => r.bytes);
  }
}
