import { loadConfig } from '../config/load.ts';

/** Calls the running appliance's management API (api.listen from the config file). */
export async function apiRequest(configFile: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const config = loadConfig(configFile);
  const url = `http://${config.api.listen}/api/v1${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new Error(`cannot reach the appliance at ${url} (is bootgate serve running?): ${(e as Error).message}`);
  }
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const err = parsed as { error?: string; message?: string } | undefined;
    throw new Error(`${method} ${path}: ${res.status} ${err?.error ?? ''} ${err?.message ?? text}`.trim());
  }
  return parsed;
}
