import { BootgateError, type ErrorCode } from '../errors.ts';
/**
 * Per-terminal iPXE scripts (PROTOCOLS.md §4 H3/H4), rendered from a boot profile.
 *
 * iPXE has no quoting: a script line is split on whitespace (core/exec.c split_command), `${name}` is
 * expanded before the split, and the tokens `||` / `&&` chain commands. So the only safe way to put a value
 * from config or from a request into a script is to refuse anything that could end the line, add a token
 * or start an expansion we did not intend. Values that must be one token (URLs, image names) may not
 * contain whitespace at all; the command line may, but each of its tokens is checked.
 */

import { macHyphens, type Mac } from '../terminal/mac.ts';
import { IMAGE_NAME_RULE, INITIATOR_IQN_PREFIX, initiatorIqn, isImageName, targetIqn, targetIqnPrefix } from '../terminal/iqn.ts';

/** A boot profile from config `profiles.<name>` (ARCHITECTURE.md contracts). */
export type BootProfile = { kernel: string; initrd?: readonly string[]; cmdline?: string } | { sanboot: string } | { chain: string } | { exit: true };

/** Why a script could not be rendered: the SCRIPT_* codes of the catalogue in src/errors.ts. */
export type ScriptErrorCode = Extract<ErrorCode, `SCRIPT_${string}`>;

export class ScriptError extends BootgateError<ScriptErrorCode> {
  override name = 'ScriptError';
}

/** iPXE's own MAC in the form the IQNs use (lowercase, hyphens): expanded on the terminal (H4). */
const CLIENT_MAC = '${net0/mac:hexhyp}';

export interface ScriptContext {
  /** the terminal, as reported in the request (any MAC form); absent when it identified itself by UUID only */
  mac?: Mac | undefined;
  uuid?: string | undefined;
  /** base URL of this HTTP server as the terminal reached it, e.g. `http://10.0.0.1:8080` (no trailing slash) */
  baseUrl: string;
  /** the iSCSI target's address (host or IPv4 literal) and port */
  iscsiHost: string;
  iscsiPort: number;
}

// C0 controls, DEL; also the Unicode line/paragraph separators for good measure.
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/;
const WHITESPACE = /\s/;
/** `${name}` or `${name:type}` as iPXE settings are written (net0/mac, mac:hexhyp, serial:uristring, ...). */
const IPXE_SETTING = /^[A-Za-z0-9_.\-/]+(?::[A-Za-z0-9_-]+)?$/;
const OPERATORS = new Set(['||', '&&', ';']);

function checkControl(what: string, v: string): void {
  if (CONTROL.test(v)) throw new ScriptError('SCRIPT_CONTROL_CHAR', `${what} contains a control character`);
}

/**
 * Expands server-side variables (`${bootgate}` = base URL, `${bootgate-mac}` = hyphenated MAC) and checks that
 * every other `${...}` is a well-formed iPXE setting reference, which iPXE expands on the terminal (H4).
 */
function expand(what: string, v: string, ctx: ScriptContext, mac: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const j = v.indexOf('${', i);
    if (j < 0) {
      out += v.slice(i);
      return out;
    }
    const k = v.indexOf('}', j + 2);
    if (k < 0) throw new ScriptError('SCRIPT_EXPANSION', `${what}: unterminated \${`);
    const name = v.slice(j + 2, k);
    out += v.slice(i, j);
    if (name === 'bootgate') out += ctx.baseUrl;
    else if (name === 'bootgate-mac') out += mac;
    else if (IPXE_SETTING.test(name)) out += v.slice(j, k + 1);
    else throw new ScriptError('SCRIPT_EXPANSION', `${what}: \${${name}} is not a setting name`);
    i = k + 1;
  }
}

/** One token (URL, path): no controls, no whitespace, no `${`. */
function token(what: string, v: string): string {
  checkControl(what, v);
  if (WHITESPACE.test(v)) throw new ScriptError('SCRIPT_WHITESPACE', `${what} contains whitespace`);
  if (v.includes('${')) throw new ScriptError('SCRIPT_EXPANSION', `${what} may not contain \${`);
  if (OPERATORS.has(v)) throw new ScriptError('SCRIPT_OPERATOR', `${what} is an operator`);
  return v;
}

/** A boot file path relative to the HTTP root → an absolute URL on this server, percent-encoded per segment. */
export function fileUrl(baseUrl: string, path: string): string {
  checkControl('boot file path', path);
  const segs = path.replace(/^\/+/, '').split('/');
  if (segs.length === 0 || segs.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ScriptError('SCRIPT_BAD_PATH', `boot file path ${JSON.stringify(path)} is not a plain relative path`);
  }
  return `${baseUrl}/${segs.map((s) => encodeURIComponent(s)).join('/')}`;
}

/** The name iPXE gives a downloaded image: the last path segment (iPXE core/image.c image_set_uri). */
function imageName(path: string): string {
  const segs = path.split('/');
  return segs[segs.length - 1]!;
}

function commandLine(cmdline: string, ctx: ScriptContext, mac: string): string[] {
  checkControl('cmdline', cmdline);
  const expanded = expand('cmdline', cmdline, ctx, mac);
  const tokens = expanded.split(/\s+/).filter((t) => t !== '');
  for (const t of tokens) if (OPERATORS.has(t)) throw new ScriptError('SCRIPT_OPERATOR', `cmdline token ${t} is an iPXE operator`);
  return tokens;
}

/** Chain URL: absolute http/https/tftp, or relative to this server; `${bootgate}` and iPXE settings allowed. */
function chainUrl(url: string, ctx: ScriptContext, mac: string): string {
  checkControl('chain URL', url);
  if (WHITESPACE.test(url)) throw new ScriptError('SCRIPT_WHITESPACE', 'chain URL contains whitespace');
  const u = expand('chain URL', url, ctx, mac);
  if (OPERATORS.has(u)) throw new ScriptError('SCRIPT_OPERATOR', 'chain URL is an operator');
  if (!/^(https?|tftp):\/\/[^/\s]+/i.test(u)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(u)) throw new ScriptError('SCRIPT_BAD_URL', `chain URL ${JSON.stringify(url)} has an unsupported scheme`);
    return fileUrl(ctx.baseUrl, u);
  }
  return u;
}

/** Quotes a value for an `echo` line: only visible ASCII, no `${`. */
function label(v: string): string {
  return v.replace(/[^A-Za-z0-9_.:@+=,-]/g, '_');
}

/**
 * Renders the iPXE script for one terminal. Throws ScriptError when a value cannot be written safely;
 * the caller answers 500 and counts it, so a bad profile never turns into a half-written script.
 */
export function renderIpxeScript(profileName: string, profile: BootProfile, ctx: ScriptContext): string {
  // a UUID-only request: iPXE fills in its own MAC
  const mac = ctx.mac !== undefined ? macHyphens(ctx.mac) : CLIENT_MAC;
  const who = ctx.mac !== undefined ? mac : `uuid ${label(ctx.uuid ?? 'unknown')}`;
  const lines = ['#!ipxe', `echo bootgate: profile ${label(profileName)} for ${who}`];
  if ('kernel' in profile) {
    const kernelUrl = token('kernel URL', fileUrl(ctx.baseUrl, profile.kernel));
    lines.push(`kernel ${kernelUrl}`);
    const initrdNames: string[] = [];
    for (const p of profile.initrd ?? []) {
      lines.push(`initrd ${token('initrd URL', fileUrl(ctx.baseUrl, p))}`);
      initrdNames.push(token('initrd name', imageName(p)));
    }
    // EFI kernels (EFI stub) load their initrds by name: `initrd=<name>` for each (../shared/lab/README.md).
    const args = [...initrdNames.map((n) => `initrd=${n}`), ...commandLine(profile.cmdline ?? '', ctx, mac)];
    lines.push(`imgargs ${token('kernel name', imageName(profile.kernel))}${args.length ? ' ' + args.join(' ') : ''}`);
    lines.push('boot');
  } else if ('sanboot' in profile) {
    // the same names the overlay provider accepts (terminal/iqn.ts): isolation depends on the two agreeing
    if (!isImageName(profile.sanboot))
      throw new ScriptError('SCRIPT_BAD_IMAGE', `image name ${JSON.stringify(profile.sanboot)} is not ${IMAGE_NAME_RULE}`);
    const iqn = ctx.mac !== undefined ? targetIqn(profile.sanboot, ctx.mac) : targetIqnPrefix(profile.sanboot) + CLIENT_MAC;
    const host = token('iSCSI host', ctx.iscsiHost.includes(':') ? `[${ctx.iscsiHost}]` : ctx.iscsiHost);
    const port = ctx.iscsiPort === 3260 ? '' : String(ctx.iscsiPort);
    // root-path syntax iscsi:<server>:<protocol>:<port>:<lun>:<targetname> (RFC 4173 §5; iPXE net/tcp/iscsi.c)
    lines.push(`set initiator-iqn ${ctx.mac !== undefined ? initiatorIqn(ctx.mac) : `${INITIATOR_IQN_PREFIX}.${CLIENT_MAC}`}`);
    lines.push(`sanboot iscsi:${host}::${port}::${iqn}`);
  } else if ('chain' in profile) {
    lines.push(`chain --autofree ${chainUrl(profile.chain, ctx, mac)}`);
  } else if ('exit' in profile && profile.exit === true) {
    // `exit` returns to the firmware, which goes on to the next boot device (the local disk).
    lines.push('exit');
  } else {
    throw new ScriptError('SCRIPT_BAD_PROFILE', `profile ${profileName} has no kernel, sanboot, chain or exit`);
  }
  return lines.join('\n') + '\n';
}
