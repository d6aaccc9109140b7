import { z } from 'zod';

/**
 * The `ui:` config slice: the web UI's settings (served on the management listener, api.listen).
 */
export const uiConfigSchema = z
  .strictObject({
    /** a browser session ends this long after login, whatever it does */
    sessionLifetimeMinutes: z
      .number()
      .int()
      .min(5)
      .max(7 * 24 * 60)
      .default(12 * 60),
    /** …and this long after its last request (an open room screen's event stream counts as activity) */
    sessionIdleMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .default(60),
    /** failed logins that lock a user name, and a source address, for the window */
    loginFailuresPerUser: z.number().int().min(1).max(1000).default(5),
    loginFailuresPerAddress: z.number().int().min(1).max(10_000).default(20),
    loginWindowSeconds: z.number().int().min(1).max(86_400).default(300),
    /** SSE comment lines that keep proxies and the browser from timing the stream out */
    heartbeatSeconds: z.number().int().min(1).max(300).default(15),
    /** events kept for Last-Event-ID resume */
    replayEvents: z.number().int().min(16).max(100_000).default(2000),
    /** the system screen's charts: a sample of their metrics this often, this many kept (default 5 s × 120 = 10 min) */
    systemSampleSeconds: z.number().int().min(1).max(3600).default(5),
    systemSamples: z.number().int().min(2).max(10_000).default(120),
  })
  .prefault({});
export type UiConfig = z.output<typeof uiConfigSchema>;
