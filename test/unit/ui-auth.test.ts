import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createIdentityServices } from '../../src/compose/identity.ts';
import { checkPassword, hashPassword } from '../../src/identity/auth.ts';
import { openDatabase } from '../../src/store/database.ts';
import { StaffRepository } from '../../src/store/staff-repository.ts';
import { UiError } from '../../src/ui/errors.ts';
import { negotiateLanguage, sameOrigin } from '../../src/ui/http-guards.ts';
import { LoginLimiter } from '../../src/ui/rate-limit.ts';
import { sessionCookie, sessionToken } from '../../src/ui/cookie.ts';
import { csrfMatches, SessionStore } from '../../src/ui/sessions.ts';
import { StaffAccounts } from '../../src/ui/staff.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const MIN = 60_000;
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function setup(dir = mkdtempSync(join(tmpdir(), 'bg-ui-'))) {
  dirs.push(dir);
  const now = { t: T0 };
  const clock = () => now.t;
  const db = openDatabase(join(dir, 'bootgate.db'));
  const identity = createIdentityServices({
    db,
    dataDir: dir,
    logger: silent,
    registry: new Registry(),
    terminals: { macForIp: () => undefined },
    clock,
  });
  identity.start();
  const repo = new StaffRepository(db);
  const sessions = new SessionStore({ repo, lifetimeMs: 12 * 60 * MIN, idleMs: 60 * MIN, clock });
  const limiter = new LoginLimiter({ user: { maxFailures: 5, windowMs: 5 * MIN }, address: { maxFailures: 20, windowMs: 5 * MIN } }, clock);
  const staff = new StaffAccounts({
    identity: identity.identity,
    identityRepo: identity.identityRepo,
    repo,
    audit: identity.audit,
    sessions,
    limiter,
  });
  const close = async () => {
    await identity.stop();
    db.close();
  };
  return { dir, db, now, identity, repo, sessions, staff, close };
}
const code = (c: string) => (e: unknown) => e instanceof UiError && e.code === c;
const actions = (s: ReturnType<typeof setup>) =>
  s.identity.auditRepo.query({ kind: 'admin', limit: 1000 }).map((r) => `${r.action} ${r.target} ${r.actor}`);

describe('staff passwords (scrypt)', () => {
  it('hashes with a per-user salt, verifies the right password only, and refuses malformed or altered hashes', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    assert.match(a, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    assert.notEqual(a, b, 'a fresh salt each time');
    assert.equal(await checkPassword('correct horse', a), true);
    assert.equal(await checkPassword('correct horse', b), true);
    assert.equal(await checkPassword('correct hors', a), false);
    assert.equal(await checkPassword('', a), false);
    const parts = a.split('$');
    parts[5] = Buffer.alloc(32, 1).toString('base64');
    assert.equal(await checkPassword('correct horse', parts.join('$')), false, 'altered hash');
    assert.equal(await checkPassword('correct horse', 'plain-text'), false, 'not a scrypt record');
  });
});

describe('browser sessions', () => {
  it('stores only the token hash, survives a restart, ends at idle expiry', async () => {
    const s = setup();
    await s.staff.add('t', { username: 'cash1', password: 'cashier-pass', role: 'cashier' });
    const { token, session } = s.sessions.create('cash1', 'cashier', '127.0.0.1');
    assert.equal(s.sessions.lookup(token)?.username, 'cash1');
    assert.equal(s.sessions.lookup(token)?.role, 'cashier');
    const rows = s.db.prepare('SELECT * FROM ui_sessions').all() as Array<Record<string, unknown>>;
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(token), 'the cookie token is not stored');
    assert.equal(rows[0]!.token_hash, session.id);
    await s.close();

    const again = setup(s.dir); // the same database, reopened: the session is still there
    assert.equal(again.sessions.lookup(token)?.username, 'cash1');
    assert.equal(again.sessions.lookup('not-a-token'), undefined);
    assert.equal(again.sessions.lookup(undefined), undefined);
    again.now.t += 59 * MIN; // touched: idle expiry moves
    assert.ok(again.sessions.lookup(token));
    again.now.t += 59 * MIN;
    assert.ok(again.sessions.lookup(token), 'still alive: last request 59 minutes ago');
    again.now.t += 61 * MIN;
    assert.equal(again.sessions.lookup(token), undefined, 'idle for more than an hour');
    assert.equal((again.db.prepare('SELECT count(*) AS n FROM ui_sessions').get() as { n: number }).n, 0, 'deleted when found expired');
    await again.close();
  });

  it('ends at the absolute lifetime however active; password change and removal end the sessions', async () => {
    const s = setup();
    await s.staff.add('t', { username: 'aud', password: 'auditor-pass', role: 'auditor' });
    const { token } = s.sessions.create('aud', 'auditor', '127.0.0.1');
    for (let i = 0; i < 23; i++) {
      s.now.t += 30 * MIN;
      assert.ok(s.sessions.lookup(token), `alive after ${(i + 1) * 30} min`);
    }
    s.now.t += 31 * MIN; // 12 h 01 min after login
    assert.equal(s.sessions.lookup(token), undefined);

    const ended: string[] = [];
    s.staff.onSessionsEnded((u) => ended.push(u));
    const t2 = s.sessions.create('aud', 'auditor', '127.0.0.1').token;
    await s.staff.setPassword('token:test', 'aud', 'a-new-password');
    assert.equal(s.sessions.lookup(t2), undefined, 'a password change ends the sessions');
    const t3 = s.sessions.create('aud', 'auditor', '127.0.0.1').token;
    await s.staff.remove('token:test', 'aud');
    assert.equal(s.sessions.lookup(t3), undefined, 'removal ends the sessions');
    assert.deepEqual(ended, ['aud', 'aud']);
    await assert.rejects(s.staff.remove('token:test', 'aud'), code('STAFF_NOT_FOUND'));
    await assert.rejects(s.staff.setPassword('token:test', 'nobody', 'whatever-pass'), code('STAFF_NOT_FOUND'));
    assert.deepEqual(actions(s), ['operator.create aud t', 'operator.passwd aud token:test', 'operator.remove aud token:test']);
    assert.deepEqual(
      s.staff.list().map((r) => r.username),
      [],
    );
    await s.close();
  });

  it('the cookie: HttpOnly, SameSite=Strict, Path=/ui, Secure only over TLS; parsed back from a Cookie header', () => {
    assert.equal(sessionCookie('abc', 3600, false), 'bootgate_ui=abc; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=3600');
    assert.equal(sessionCookie('abc', 3600, true), 'bootgate_ui=abc; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=3600; Secure');
    assert.equal(sessionToken('a=1; bootgate_ui=tok-en_1; b=2'), 'tok-en_1');
    assert.equal(sessionToken('xbootgate_ui=1'), undefined);
    assert.equal(sessionToken(undefined), undefined);
  });
});

describe('CSRF', () => {
  it('the token compares in constant time and must match exactly', () => {
    assert.equal(csrfMatches('abcdef', 'abcdef'), true);
    assert.equal(csrfMatches('abcdef', 'abcdeg'), false);
    assert.equal(csrfMatches('abcdef', 'abcde'), false);
    assert.equal(csrfMatches('abcdef', undefined), false);
    assert.equal(csrfMatches('abcdef', ''), false);
  });

  it('Origin must be this server as the browser addressed it; Sec-Fetch-Site must not be cross-site or same-site', () => {
    const host = '127.0.0.1:8443';
    assert.equal(sameOrigin({ origin: 'http://127.0.0.1:8443', host, secure: false }), true);
    assert.equal(sameOrigin({ origin: 'https://127.0.0.1:8443', host, secure: true }), true);
    assert.equal(sameOrigin({ origin: 'https://127.0.0.1:8443', host, secure: false }), false, 'scheme differs');
    assert.equal(sameOrigin({ origin: 'http://127.0.0.1:8444', host, secure: false }), false, 'port differs');
    assert.equal(sameOrigin({ origin: 'http://evil.example', host, secure: false }), false);
    assert.equal(sameOrigin({ origin: 'null', host, secure: false }), false, 'opaque origin (sandboxed frame, file:)');
    assert.equal(sameOrigin({ origin: undefined, host, secure: false }), true, 'no Origin: left to the token');
    assert.equal(sameOrigin({ origin: undefined, host, secFetchSite: 'cross-site', secure: false }), false);
    assert.equal(sameOrigin({ origin: undefined, host, secFetchSite: 'same-site', secure: false }), false);
    assert.equal(sameOrigin({ origin: 'http://127.0.0.1:8443', host, secFetchSite: 'same-origin', secure: false }), true);
  });

  it('the language follows Accept-Language with q-values, English otherwise', () => {
    const langs = ['en', 'fr'] as const;
    assert.equal(negotiateLanguage('fr-FR,fr;q=0.9,en;q=0.8', langs, 'en'), 'fr');
    assert.equal(negotiateLanguage('de-DE, en;q=0.5, fr;q=0.7', langs, 'en'), 'fr');
    assert.equal(negotiateLanguage('de', langs, 'en'), 'en');
    assert.equal(negotiateLanguage('fr;q=0, en', langs, 'en'), 'en');
    assert.equal(negotiateLanguage(undefined, langs, 'en'), 'en');
    const three = ['en', 'zh-CN', 'fr'] as const;
    const zh = { zh: 'zh-CN', 'zh-hans': 'zh-CN' } as const;
    assert.equal(negotiateLanguage('zh-CN,zh;q=0.9,en;q=0.8', three, 'en', zh), 'zh-CN');
    assert.equal(negotiateLanguage('ZH-cn', three, 'en', zh), 'zh-CN');
    assert.equal(negotiateLanguage('zh-Hans, fr;q=0.5', three, 'en', zh), 'zh-CN');
    assert.equal(negotiateLanguage('zh;q=0.9, fr', three, 'en', zh), 'fr');
    // traditional Chinese is not served the simplified catalogue
    assert.equal(negotiateLanguage('zh-TW, en;q=0.1', three, 'en', zh), 'en');
  });
});

describe('login rate limiting', () => {
  it('five failures for a user lock it for the rest of the window, from any address; success clears the count', () => {
    const now = { t: T0 };
    const l = new LoginLimiter({ user: { maxFailures: 5, windowMs: 5 * MIN }, address: { maxFailures: 20, windowMs: 5 * MIN } }, () => now.t);
    for (let i = 0; i < 5; i++) {
      assert.equal(l.retryAfterSeconds('ann', `10.0.0.${i}`), 0);
      l.fail('ann', `10.0.0.${i}`);
      now.t += 1000;
    }
    assert.equal(l.retryAfterSeconds('ann', '10.9.9.9'), 5 * 60 - 5, 'until the first failure leaves the window');
    assert.equal(l.retryAfterSeconds('bob', '10.0.0.1'), 0, 'another user is not locked');
    now.t += (5 * 60 - 5) * 1000;
    assert.equal(l.retryAfterSeconds('ann', '10.0.0.1'), 0, 'one failure aged out');
    l.fail('ann', '10.0.0.1');
    assert.ok(l.retryAfterSeconds('ann', '10.0.0.1') > 0);
    l.succeed('ann');
    assert.equal(l.retryAfterSeconds('ann', '10.0.0.1'), 0);
  });

  it('an address guessing many users is locked after its own limit', () => {
    const now = { t: T0 };
    const l = new LoginLimiter({ user: { maxFailures: 5, windowMs: 5 * MIN }, address: { maxFailures: 20, windowMs: 5 * MIN } }, () => now.t);
    for (let i = 0; i < 20; i++) l.fail(`user${i}`, '10.0.0.66');
    assert.equal(l.retryAfterSeconds('newuser', '10.0.0.66'), 300);
    assert.equal(l.retryAfterSeconds('newuser', '10.0.0.67'), 0);
  });

  it('StaffAccounts.login: wrong passwords fail, the sixth try is refused even with the right password; both are on the trail', async () => {
    const s = setup();
    await s.staff.add('t', { username: 'cash1', password: 'cashier-pass', role: 'cashier' });
    await assert.rejects(s.staff.login('nobody', 'x', '10.0.0.5'), code('LOGIN_FAILED'));
    for (let i = 0; i < 5; i++) await assert.rejects(s.staff.login('cash1', 'wrong', '10.0.0.5'), code('LOGIN_FAILED'));
    await assert.rejects(
      s.staff.login('cash1', 'cashier-pass', '10.0.0.5'),
      (e: unknown) => code('LOGIN_RATE_LIMITED')(e) && (e as UiError).retryAfterSeconds === 300,
    );
    s.now.t += 5 * MIN;
    const { token, session } = await s.staff.login('cash1', 'cashier-pass', '10.0.0.5');
    assert.equal(s.sessions.lookup(token)?.id, session.id);
    await s.staff.logout(session, '10.0.0.5');
    assert.equal(s.sessions.lookup(token), undefined);
    const trail = actions(s);
    assert.equal(trail.filter((a) => a.startsWith('ui.login-failed cash1 address:10.0.0.5')).length, 5);
    assert.ok(trail.includes('ui.login-failed nobody address:10.0.0.5'));
    assert.ok(trail.includes('ui.login cash1 operator:cash1'));
    assert.ok(trail.includes('ui.logout cash1 operator:cash1'));
    await s.close();
  });
});
