/**
 * The catalogue of stable error codes (tests assert codes, not message text).
 * Decoders use DecodeError (src/wire) with their own per-protocol codes; drop reasons are metric labels.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'configuration failed validation',
  CONFIG_UNREADABLE: 'configuration file cannot be read',
  CONFIG_YAML: 'configuration file is not YAML',
  INTERFACE_MISSING: 'a configured network interface does not exist or has no IPv4 address',
  SOCKET_BIND: 'a listening socket could not be opened',
  NATIVE_ADDON_MISSING: 'the interface-socket addon was not built',
  STORE_MIGRATION: 'the database could not be migrated',
  AUDIT_SEQUENCE: 'an audit batch does not continue the committed chain (an earlier batch failed); refused',
  AUDIT_COMMIT: 'the audit writer thread could not commit a batch',
  AUDIT_WRITER_EXIT: 'the audit writer thread is not running',
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

export class BootgateError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BootgateError';
  }
}
