import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.ts';
import { BootgateError } from '../errors.ts';

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as object)) deepFreeze(v);
  }
  return o;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = root;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** Validates a parsed document; every problem names its key, the value found and the reason. */
export function parseConfig(doc: unknown, source = 'config'): Readonly<Config> {
  const result = configSchema.safeParse(doc ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const keys = i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k]) : [i.path];
      return keys
        .map((p) => {
          const key = p.map(String).join('.') || '(top level)';
          const value = i.code === 'unrecognized_keys' ? 'unknown key' : (JSON.stringify(valueAt(doc, p)) ?? 'missing');
          return `  ${key} = ${value}: ${i.code === 'unrecognized_keys' ? 'is not a known key' : i.message}`;
        })
        .join('\n');
    });
    throw new BootgateError('CONFIG_INVALID', `invalid configuration in ${source}:\n${lines.join('\n')}`);
  }
  return deepFreeze(result.data);
}

export function loadConfig(file: string): Readonly<Config> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BootgateError('CONFIG_UNREADABLE', `cannot read config file ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new BootgateError('CONFIG_YAML', `config file ${file} is not valid YAML: ${(e as Error).message}`);
  }
  return parseConfig(doc, file);
}
