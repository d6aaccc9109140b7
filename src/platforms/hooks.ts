import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * The thin delivery part of the advisor and of sleep/wake: a JSON POST with a timeout, and a command run with
 * execFile (an argv, no shell) with the payload as JSON on stdin and as variables in its environment. Both resolve
 * or reject; the caller logs and counts.
 */

/** POSTs `payload` as JSON; rejects on a network error, a timeout or a status other than 2xx. */
export function postJson(url: string, payload: unknown, timeoutMs: number): Promise<void> {
  const body = Buffer.from(JSON.stringify(payload));
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        agent: false,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': body.length, 'user-agent': 'bootgate' },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const s = res.statusCode ?? 0;
          if (s >= 200 && s < 300) resolve();
          else reject(new Error(`${url} answered ${s}`));
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Runs argv[0] with argv[1..], `payload` as JSON on stdin, `env` added to the environment; rejects on exit ≠ 0 or timeout. */
export function runCommand(argv: readonly string[], payload: unknown, env: Record<string, string>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 1024 * 1024 },
      (err, _out, stderr) => {
        if (err) reject(new Error(`${argv[0]}: ${err.message}${stderr ? ` (${stderr.trim().slice(0, 200)})` : ''}`));
        else resolve();
      },
    );
    child.stdin?.on('error', () => undefined); // the command need not read its stdin
    child.stdin?.end(JSON.stringify(payload));
  });
}

/** `{ class: 'game', desired: 3 }` with prefix BOOTGATE_ADVICE_ → `{ BOOTGATE_ADVICE_CLASS: 'game', BOOTGATE_ADVICE_DESIRED: '3' }`. */
export function envOf(prefix: string, o: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null || typeof v === 'object') continue;
    env[`${prefix}${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`] = String(v);
  }
  return env;
}
