import { BootgateError } from '../errors.ts';

/** The web UI's and staff accounts' codes of the catalogue in src/errors.ts. */
export type UiCode =
  | 'VALIDATION'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'STAFF_NOT_FOUND'
  | 'OPERATOR_EXISTS'
  | 'LOGIN_FAILED'
  | 'LOGIN_RATE_LIMITED'
  | 'CSRF_TOKEN'
  | 'ORIGIN_REFUSED';

export class UiError extends BootgateError<UiCode> {
  override name = 'UiError';
  /** for LOGIN_RATE_LIMITED: seconds until a login may be tried again (the Retry-After header) */
  retryAfterSeconds?: number;
}
