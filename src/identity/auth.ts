import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { IdentityRepository, Role } from '../store/identity-repository.ts';

export const ADMIN_TOKEN_FILE = 'admin.token';

/** A new bearer token and the hash stored for it (tokens themselves are never stored). */
export function newToken(): { token: string; hash: string } {
  const token = `bg_${randomBytes(32).toString('base64url')}`;
  return { token, hash: tokenHash(token) };
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, keylen, { N, r, p, maxmem: 64 * 1024 * 1024 }, (e, k) => (e ? reject(e) : resolve(k))),
  );
}

/** scrypt$N$r$p$salt$hash (salt and hash base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keylen);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const expected = Buffer.from(parts[5]!, 'base64');
  const key = await scryptAsync(password, Buffer.from(parts[4]!, 'base64'), N, r, p, expected.length);
  return timingSafeEqual(key, expected);
}

/**
 * The bootstrap admin token: created on first start in `<keysDir>/admin.token` (mode 0600) and registered by its
 * hash; on later starts the file's token is (re-)registered if the database does not know it.
 */
export function ensureAdminToken(repo: IdentityRepository, keysDir: string, now = Date.now()): string {
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const file = join(keysDir, ADMIN_TOKEN_FILE);
  let token: string;
  if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
  else {
    token = newToken().token;
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
  }
  const hash = tokenHash(token);
  if (!repo.tokenByHash(hash))
    repo.insertToken({ id: randomUUID(), name: 'bootstrap-admin', role: 'admin' satisfies Role, tokenHash: hash, createdAt: now });
  return token;
}
