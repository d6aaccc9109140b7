/**
 * The store's index on disk: an append-only journal of checked lines. Each line is `JSON \t first 8 hex of its
 * SHA-256`; replay stops at the first line that is torn or fails its check (a `kill -9` mid-append leaves at most
 * one such line, at the end). The journal only ever names slice files that were fsync'd and renamed before the
 * line was written, so whatever it says after a crash is backed by complete files (store.ts checks sizes too).
 */
import { createHash } from 'node:crypto';
import type { ObjectMeta } from './object-meta.ts';

export type JournalRecord =
  /** an object's metadata (a later record for the same id replaces it) */
  | { o: ObjectMeta }
  /** a slice stored: [id, index, bytes, sha256 hex] */
  | { s: [string, number, number, string] }
  /** a slice dropped, or the whole object when index is -1: [id, index] */
  | { d: [string, number] };

const check = (json: string): string => createHash('sha256').update(json).digest('hex').slice(0, 8);

export function encodeRecord(r: JournalRecord): string {
  const json = JSON.stringify(r);
  return `${json}\t${check(json)}\n`;
}

/** The records of a journal's text, up to the first damaged line; `damaged` says whether one was met. */
export function decodeJournal(text: string): { records: JournalRecord[]; damaged: boolean } {
  const records: JournalRecord[] = [];
  const lines = text.split('\n');
  const complete = lines.length - 1; // the part after the last \n is torn (or empty)
  for (let i = 0; i < complete; i++) {
    const line = lines[i]!;
    const tab = line.lastIndexOf('\t');
    if (tab === -1 || check(line.slice(0, tab)) !== line.slice(tab + 1)) return { records, damaged: true };
    try {
      records.push(JSON.parse(line.slice(0, tab)) as JournalRecord);
    } catch {
      return { records, damaged: true };
    }
  }
  return { records, damaged: lines[complete] !== '' };
}
