/**
 * The one catalogue of stable error codes: tests, the CLI and API clients match codes, never message text. Each
 * code has a summary and the HTTP status the API answers with when it reaches a client (500 for the failures that
 * are the appliance's own, not the caller's). Modules throw `BootgateError`, or a subclass narrowed to their own
 * codes (IdentityError, OverlayError, ScriptError, ExportError) so a handler can tell whose failure it is.
 *
 * Not here on purpose: protocol decode failures (`DecodeError` in src/wire, with the byte offset; dropped and
 * counted per protocol, never shown to a user) and drop reasons, which are metric labels.
 */
const code = (summary: string, status = 500) => ({ summary, status }) as const;

export const ErrorCodes = {
  // configuration and start (src/config, src/appliance.ts): fail at start with the key, the value and the reason
  CONFIG_INVALID: code('configuration failed validation'),
  CONFIG_UNREADABLE: code('configuration file cannot be read'),
  CONFIG_YAML: code('configuration file is not YAML'),
  INTERFACE_MISSING: code('a configured network interface does not exist (one that is down or has no address yet is waited for)'),
  SOCKET_BIND: code('a listening socket could not be opened'),
  NATIVE_ADDON_MISSING: code('the interface-socket addon was not built'),
  STORE_MIGRATION: code('the database could not be migrated'),

  // audit trail (src/audit, src/store)
  AUDIT_SEQUENCE: code('an audit batch does not continue the committed chain (an earlier batch failed); refused'),
  AUDIT_COMMIT: code('the audit writer thread could not commit a batch'),
  AUDIT_WRITER_EXIT: code('the audit writer thread is not running'),
  // audit export streams (src/audit/export-stream.ts, the CLI's receiver)
  EXPORT_ABORTED: code('the receiver went away before the export was complete'),
  EXPORT_RANGE_PURGED: code('retention purged records of the range while the export was reading it', 409),
  EXPORT_INCOMPLETE: code('the export stream ended without a valid manifest'),
  EXPORT_DIGEST: code('the received file does not match the digest in the manifest'),
  EXPORT_LINE_TOO_LONG: code('the export stream holds a line longer than the receiver accepts'),

  // audit export verification verdicts (src/audit/verify.ts): what damage was found, first broken record first
  MANIFEST_MISSING: code('the manifest file is missing or unreadable', 422),
  MANIFEST_INVALID: code('the manifest is not a bootgate export manifest', 422),
  KEY_MISMATCH: code('the manifest was signed by another key than the one given', 422),
  SIGNATURE_INVALID: code('the manifest signature does not verify', 422),
  RECORD_MALFORMED: code('a line is not a well-formed record', 422),
  RECORD_ALTERED: code("a record's content does not match its chain hash", 422),
  RECORD_REORDERED: code('records are not in chain order', 422),
  RECORD_MISSING: code('a record of the chain is missing', 422),
  CHAIN_BROKEN: code("a record does not link to the previous record's hash", 422),
  CHECKPOINT_INVALID: code('a retention checkpoint signature does not verify', 422),
  COUNT_MISMATCH: code('the number of records differs from the manifest', 422),
  BOUNDARY_MISMATCH: code('the first or last record differs from the manifest', 422),
  FILE_DIGEST: code('the file bytes differ from the signed digest', 422),

  // API callers' mistakes (src/api, src/identity)
  VALIDATION: code('the request failed validation', 400),
  UNAUTHENTICATED: code('no valid token or password', 401),
  FORBIDDEN: code('the role may not do this', 403),
  USER_NOT_FOUND: code('no such user', 404),
  SEAT_NOT_FOUND: code('no such seat', 404),
  SEAT_GROUP_NOT_FOUND: code('no such seat group', 404),
  SEAT_EXISTS: code('a seat with this name or MAC exists', 409),
  SEAT_BUSY: code('the seat already has an open session', 409),
  NO_OPEN_SESSION: code('the seat has no open session', 409),
  SESSION_PAUSED: code("the seat's session is already paused", 409),
  SESSION_NOT_PAUSED: code("the seat's session is not paused", 409),
  NOT_A_MEMBER: code('the user has no member account', 409),
  INSUFFICIENT_BALANCE: code('the member balance does not cover the charge', 409),
  OPERATOR_EXISTS: code('an operator with this name exists', 409),
  INTERNAL: code('the appliance failed; its log has the cause'),

  // images and overlays (src/overlay)
  IMAGE_UNKNOWN: code('no such image', 404),
  VERSION_UNKNOWN: code('no such image version', 404),
  SUPER_BUSY: code('another terminal is the super terminal of this image', 409),
  NOT_SUPER: code('the terminal is not in super mode', 409),
  IN_USE: code('the overlay is open (the terminal is connected)', 409),
  BAD_MAC: code('not a MAC address', 400),

  // iPXE scripts (src/http/ipxe-script.ts): a profile that cannot be rendered safely is refused, not escaped
  SCRIPT_CONTROL_CHAR: code('a value contains a control character (newline, CR, NUL, ...) that would end the script line'),
  SCRIPT_WHITESPACE: code('a value that must be one iPXE token contains whitespace'),
  SCRIPT_OPERATOR: code('a command-line token is an iPXE command operator (||, &&, ;)'),
  SCRIPT_EXPANSION: code('a value contains a ${...} expansion that is malformed or not allowed there'),
  SCRIPT_BAD_PATH: code('a boot file path is empty, absolute outside the root, or contains ..'),
  SCRIPT_BAD_URL: code('a chain URL is not http(s)/tftp/iscsi or is malformed'),
  SCRIPT_BAD_IMAGE: code('a sanboot image name is not a valid IQN component'),
  SCRIPT_BAD_PROFILE: code('the profile has none of kernel, sanboot, chain, exit'),

  // service platforms (src/platforms)
  PLATFORM_UNKNOWN: code('no such platform instance', 404),
  PLATFORM_BAD_TOKEN: code("the heartbeat's bearer token is not this instance's", 401),
  PLATFORM_EXISTS: code('an instance of this class has this name', 409),
  PLATFORM_CONFIG_INSTANCE: code('the instance comes from the configuration file; change it there', 409),
  SERVICE_UNAVAILABLE: code('no healthy instance of the service class', 503),

  // staff accounts and the web UI (src/ui, src/api/staff-api.ts)
  STAFF_NOT_FOUND: code('no such staff account', 404),
  LOGIN_FAILED: code('unknown staff user or wrong password', 401),
  LOGIN_RATE_LIMITED: code('too many failed logins from this address or for this user; retry later', 429),
  CSRF_TOKEN: code('the request lacks the session CSRF token (X-CSRF-Token)', 403),
  ORIGIN_REFUSED: code('the request comes from another origin', 403),
  PASSWORD_INPUT: code('no password was given on stdin or in --password-file', 400),

  // edge cache (src/cache): the proxy passes the request through uncached on any of these
  CACHE_DOMAINS_INVALID: code('a cache-domains file or cache_domains.json cannot be read or parsed'),
  CACHE_BYPASS: code('the request or its response may not be stored in a shared cache (RFC 9111); pass it through'),
  CACHE_ORIGIN: code('the origin failed, timed out or answered a slice fetch with an unusable response', 502),
  CACHE_ORIGIN_CHANGED: code("the origin's validator (ETag, Last-Modified or length) changed between slices; the object was purged", 502),
  PREFILL_RUNNING: code('a cache prefill job is still running', 409),
  CACHE_STORE: code('a stored slice file ended before its journalled size while it was being sent (changed under the cache)', 502),
  CACHE_DIGEST: code('a slice does not match the digest the origin sent (Content-MD5 / Content-Digest)', 502),

  // the CLI (src/cli)
  API_UNREACHABLE: code('the running appliance cannot be reached at api.listen'),
  API_ERROR: code('the appliance answered with an error that has no code'),
  TOKEN_UNREADABLE: code('the API token file cannot be read'),
  KEY_UNREADABLE: code('the audit public key file cannot be read'),
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.hasOwn(ErrorCodes, s);
}

export class BootgateError<C extends ErrorCode = ErrorCode> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'BootgateError';
  }

  /** the HTTP status an API answers with */
  get status(): number {
    return ErrorCodes[this.code].status;
  }
}
