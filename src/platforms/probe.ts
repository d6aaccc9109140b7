import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** One active health check: resolves true when the URL answered `expectedStatus` within the timeout. */
export type HealthProbe = (url: string, expectedStatus: number, timeoutMs: number) => Promise<boolean>;

/** HTTP(S) GET with a whole-exchange timeout; the body is discarded; any error or other status is a failure. */
export const httpHealthProbe: HealthProbe = (url, expectedStatus, timeoutMs) =>
  new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const get = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = get(url, { method: 'GET', headers: { 'user-agent': 'bootgate-health', connection: 'close' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => finish(res.statusCode === expectedStatus));
      res.on('error', () => finish(false));
    });
    req.on('error', () => finish(false));
    const timer = setTimeout(() => {
      req.destroy();
      finish(false);
    }, timeoutMs);
    req.end();
  });
