import { BootgateError } from '../errors.ts';

/** The identity, session and API codes of the catalogue in src/errors.ts (each carries its HTTP status there). */
export type IdentityCode =
  | 'VALIDATION'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'USER_NOT_FOUND'
  | 'SEAT_NOT_FOUND'
  | 'SEAT_GROUP_NOT_FOUND'
  | 'SEAT_EXISTS'
  | 'SEAT_BUSY'
  | 'NO_OPEN_SESSION'
  | 'SESSION_PAUSED'
  | 'SESSION_NOT_PAUSED'
  | 'NOT_A_MEMBER'
  | 'INSUFFICIENT_BALANCE'
  | 'OPERATOR_EXISTS';

export class IdentityError extends BootgateError<IdentityCode> {
  override name = 'IdentityError';
}
