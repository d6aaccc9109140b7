import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { BootgateError, isErrorCode } from '../errors.ts';
import { ADMIN_TOKEN_FILE } from '../identity/auth.ts';

export interface ApiOpts {
  /** the resolved configuration file (set for every command by the program's preAction hook, see main.ts) */
  config: string;
  token?: string;
}

/**
 * Calls the running appliance's /api/v1 (api.listen from the config) with a bearer token: --token-file, else
 * $BOOTGATE_TOKEN, else the bootstrap admin token in <dataDir>/keys/admin.token (readable by root only).
 * Returns the response unread when it succeeded (for bodies that must be streamed); an error reply becomes a
 * BootgateError with its code.
 */
export async function apiRequest(o: ApiOpts, method: string, path: string, body?: unknown): Promise<Response> {
  const config = loadConfig(o.config);
  let token = process.env.BOOTGATE_TOKEN;
  const tokenFile = o.token ?? (token ? undefined : join(config.dataDir, 'keys', ADMIN_TOKEN_FILE));
  if (tokenFile) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw new BootgateError('TOKEN_UNREADABLE', `cannot read the API token ${tokenFile}: ${(e as Error).message}`);
    }
  }
  const url = `http://${config.api.listen}/api/v1${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new BootgateError('API_UNREACHABLE', `cannot reach the appliance at ${url} (is bootgate serve running?): ${(e as Error).message}`);
  }
  if (!res.ok) {
    const err = parseBody(await res.text()) as { error?: string; message?: string } | undefined;
    const detail = err?.message ?? `${method} ${path}: HTTP ${res.status}`;
    // the appliance's codes are the catalogue's; a reply without one (a proxy in between?) keeps its status in the text
    throw isErrorCode(err?.error) ? new BootgateError(err.error, detail) : new BootgateError('API_ERROR', `HTTP ${res.status}: ${detail}`);
  }
  return res;
}

function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

/** apiRequest() for JSON replies: the parsed body. */
export async function api(o: ApiOpts, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await apiRequest(o, method, path, body);
  return parseBody(await res.text());
}

/** An API command: the token option (the configuration comes from the program's `-c`, see main.ts). */
export function withApi(cmd: Command): Command {
  return cmd.option('--token <file>', 'file holding an API token (default: <dataDir>/keys/admin.token or $BOOTGATE_TOKEN)');
}
