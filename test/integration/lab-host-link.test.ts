import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Lab, ROOT } from '../../src/lab/lab.ts';

/**
 * `npm start`'s way in (issue 13): the lab's web UI is reachable from this machine over a veth to the lab
 * namespace (10.78.0.4/30 here: the `lab` commands use 10.78.0.0/30), with a login the lab makes; a lab taken
 * down and brought up again on the same directory (its bootgate.log appended) is serving when up() returns,
 * not found "started" by the previous run's log line; down() leaves neither the namespace nor the host's veth.
 */
describe('the lab: UI from this machine, restart on an appended log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-labhl-'));
  const lab = new Lab({ dir, ns: 'bglabhl', hostLink: '10.78.0.4/30', imagesDir: process.env.BOOTGATE_IMAGES ?? join(ROOT, '.lab/images') });
  const ui = 'http://10.78.0.6:8443/ui';

  after(async () => {
    await lab.down();
    rmSync(dir, { recursive: true, force: true });
  });

  const logIn = (username: string, password: string): Promise<Response> =>
    fetch(`${ui}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://10.78.0.6:8443' },
      body: JSON.stringify({ username, password }),
    });

  it('the UI answers on the host link and the lab login logs in; a wrong password does not', async () => {
    await lab.up();
    const login = await lab.uiLogin();
    assert.equal(login.url, `${ui}/`);
    assert.equal((await fetch(login.url)).status, 200);
    const r = await logIn(login.username, login.password);
    assert.equal(r.status, 200, await r.text());
    assert.match(r.headers.get('set-cookie') ?? '', /^bootgate_ui=[^;]+; Path=\/ui; HttpOnly; SameSite=Strict/);
    assert.equal((await logIn(login.username, 'not-the-password')).status, 401);
  });

  it('down then up again on the same directory: serving when up() returns; a new login replaces the old password', async () => {
    const before = await lab.uiLogin();
    await lab.down();
    await lab.up();
    // no wait here: up() resolves only once this run's bootgate has started
    assert.equal((await fetch(`${ui}/`)).status, 200);
    const now = await lab.uiLogin();
    assert.notEqual(now.password, before.password);
    assert.equal((await logIn('lab', now.password)).status, 200);
    assert.equal((await logIn('lab', before.password)).status, 401);
  });

  it('down() removes the namespace and the host side of the link', async () => {
    await lab.down();
    assert.doesNotMatch(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), /\bbglabhl\b/);
    assert.equal(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes('bglabhl-ho'), false);
  });
});
