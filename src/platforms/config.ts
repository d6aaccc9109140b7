import { z } from 'zod';
import { macField, portField } from '../config/fields.ts';

/** A class of service platform: `game`, `video`, `web`, `billing`, `monitoring`, or any name the operator adds. */
export const PLATFORM_CLASS = /^[a-z][a-z0-9-]{0,31}$/;
export const platformClassField = z.string().regex(PLATFORM_CLASS, 'must be a class name: a-z, 0-9 and -, starting with a letter, at most 32');

/** An instance's name, unique within its class. */
export const platformNameField = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be a name: letters, digits, _ . -, at most 64');

/** An http(s) base URL with no query or fragment (the redirector appends the request's path and query). */
export const platformUrlField = z.string().superRefine((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return void ctx.addIssue({ code: 'custom', message: 'must be an absolute http:// or https:// URL' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use http or https' });
  if (u.search !== '' || u.hash !== '') ctx.addIssue({ code: 'custom', message: 'must have no query or fragment' });
  if (u.username !== '' || u.password !== '') ctx.addIssue({ code: 'custom', message: 'must carry no credentials' });
});

export const capacityField = z.int().min(1).max(1_000_000);
export const weightField = z.number().min(0.01).max(1000);

/** A SecureOn password: 4 or 6 bytes in hex, separated by colons or hyphens or not at all. */
export const secureOnField = z
  .string()
  .regex(/^(?:[0-9A-Fa-f]{2}[:-]?){3}[0-9A-Fa-f]{2}$|^(?:[0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$/, 'must be 4 or 6 bytes in hex, e.g. 01:02:03:04');

/** An instance registered by configuration (source 'config'; the store keeps it in step at every start). */
const staticInstanceSchema = z.strictObject({
  class: platformClassField,
  name: platformNameField,
  url: platformUrlField,
  /** sessions the instance is sized for; load = sessions ÷ (capacity × effective weight) */
  capacity: capacityField,
  weight: weightField.default(1),
  /** polled by bootgate itself (HTTP GET); without it the instance must heartbeat */
  healthUrl: platformUrlField.optional(),
  expectedStatus: z.int().min(100).max(599).default(200),
  /** timeout of one health GET; default health.timeoutMs */
  healthTimeoutMs: z.int().min(50).max(60_000).optional(),
  /** for Wake-on-LAN when the advisor wakes a sleeping instance */
  mac: macField.optional(),
  /** POSTed to when the instance is told to sleep (else the sleep command hook, if any) */
  sleepUrl: platformUrlField.optional(),
});
export type StaticInstanceConfig = z.output<typeof staticInstanceSchema>;

const classSettingsSchema = z.strictObject({
  /** 'redirect': 302 to the chosen instance; 'proxy': reverse proxy through the gateway */
  mode: z.enum(['redirect', 'proxy']).default('redirect'),
  /** a seat with a cashier session stays on the instance first chosen for it while that instance is usable */
  affinity: z.boolean().default(false),
  /** the advisor's target of active sessions per instance (the HPA target); null: no scaling advice */
  targetSessionsPerInstance: z.number().positive().nullable().default(null),
  /** Retry-After of the 503 sent when no instance is healthy */
  retryAfterSeconds: z.int().min(1).max(3600).default(5),
});
export type PlatformClassSettings = z.output<typeof classSettingsSchema>;

const hookCommand = z.array(z.string().min(1)).min(1);

/** The `platforms:` config slice. Plug into the appliance schema as `platforms: platformsConfigSchema.prefault({})`. */
export const platformsConfigSchema = z
  .strictObject({
    /** the reverse proxy's port for classes in proxy mode (on http.listen, beside the HTTP boot port) */
    proxyPort: portField.default(8090),
    /** per-class settings; a class with no entry (one added by the API) gets the defaults */
    classes: z.record(platformClassField, classSettingsSchema.prefault({})).default({}),
    instances: z.array(staticInstanceSchema).default([]),
    /** in HAProxy's spirit (inter 2s, fall 3, rise 2): a heartbeat is due every intervalMs, TTL = intervalMs × fall */
    health: z
      .strictObject({
        intervalMs: z.int().min(100).max(600_000).default(2000),
        /** missed heartbeats (TTL = intervalMs × fall) or failed polls in a row that make an instance unhealthy */
        fall: z.int().min(1).max(100).default(3),
        /** heartbeats or passed polls in a row that make an unhealthy instance healthy again */
        rise: z.int().min(1).max(100).default(2),
        /** timeout of one active health GET */
        timeoutMs: z.int().min(50).max(60_000).default(1000),
      })
      .prefault({}),
    /** after recovery the effective weight ramps linearly from ~0 to full over this time (HAProxy slowstart); 0 = off */
    slowStartMs: z.int().min(0).max(3_600_000).default(30_000),
    /**
     * Envoy's panic threshold: when fewer than this fraction of a class's non-drained instances are healthy (but at
     * least one is), traffic is spread over all of them ignoring health (see selector.ts); 0 = never panic
     */
    panicThreshold: z.number().min(0).max(1).default(0.5),
    /** API-registered instances dead (no heartbeat) this long are removed; null = never (only by explicit setting) */
    deregisterAfterMs: z.int().min(1000).nullable().default(null),
    advisor: z
      .strictObject({
        /** how often the advisor samples each class */
        intervalMs: z.int().min(100).max(600_000).default(10_000),
        /** moving-average window of active sessions */
        windowMs: z.int().min(1000).max(86_400_000).default(60_000),
        /** HPA tolerance: no change while |average ÷ target − 1| ≤ tolerance */
        tolerance: z.number().min(0).max(1).default(0.1),
        /** no scale-down advice until the highest recommendation over this window says so (HPA default 300 s) */
        scaleDownStabilizationMs: z.int().min(0).max(86_400_000).default(300_000),
        /** least time between two advice events of one class */
        cooldownMs: z.int().min(0).max(86_400_000).default(60_000),
        minInstances: z.int().min(0).default(1),
        maxInstances: z.int().min(1).nullable().default(null),
        /** each advice event is POSTed here as JSON */
        webhookUrl: platformUrlField.optional(),
        /** each advice event runs this argv (no shell), the event as JSON on stdin and BOOTGATE_ADVICE_* in env */
        command: hookCommand.optional(),
        hookTimeoutMs: z.int().min(100).max(300_000).default(5000),
      })
      .prefault({}),
    sleep: z
      .strictObject({
        /** an instance with no sessions this long is told to sleep; null = never */
        idleMs: z.int().min(1000).nullable().default(null),
        /** run (argv, no shell) with BOOTGATE_PLATFORM_* in env for instances that have no sleepUrl */
        command: hookCommand.optional(),
        /** run to wake an instance that has no mac */
        wakeCommand: hookCommand.optional(),
        /** a woken instance not healthy within this time is woken again */
        wakeTimeoutMs: z.int().min(1000).max(3_600_000).default(120_000),
      })
      .prefault({}),
    wol: z
      .strictObject({
        port: portField.default(9),
        /** SecureOn password sent after the 16 MAC repetitions */
        password: secureOnField.optional(),
        /** daily wake-ups, e.g. every morning before opening, spread over spreadMs */
        schedules: z
          .array(
            z.strictObject({
              /** "HH:MM", local time */
              at: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM (24 h)'),
              /** days of week, e.g. "mon-fri", "sat,sun", "*" */
              days: z.string().default('*'),
              /** a seat group, or 'all' */
              target: z.string().min(1).default('all'),
              spreadMs: z.int().min(0).max(3_600_000).default(60_000),
            }),
          )
          .default([]),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.instances.forEach((inst, i) => {
      const key = `${inst.class}/${inst.name}`;
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: ['instances', i, 'name'], message: `is used twice in class ${inst.class}`, input: inst.name });
      seen.add(key);
    });
    if (c.advisor.maxInstances !== null && c.advisor.maxInstances < c.advisor.minInstances)
      ctx.addIssue({ code: 'custom', path: ['advisor', 'maxInstances'], message: 'must not be below minInstances', input: c.advisor.maxInstances });
  });
export type PlatformsConfig = z.output<typeof platformsConfigSchema>;

const DEFAULT_CLASS_SETTINGS: PlatformClassSettings = Object.freeze(classSettingsSchema.parse({}));

/** The settings of a class: its entry under `classes`, else the defaults. */
export function classSettings(config: Readonly<PlatformsConfig>, cls: string): PlatformClassSettings {
  return Object.hasOwn(config.classes, cls) ? config.classes[cls]! : DEFAULT_CLASS_SETTINGS;
}

/** Heartbeat TTL: an instance silent this long is unhealthy (HAProxy: fall × inter). */
export const heartbeatTtlMs = (config: Readonly<PlatformsConfig>): number => config.health.intervalMs * config.health.fall;
