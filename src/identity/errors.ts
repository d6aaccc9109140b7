/** Stable codes for identity, session and API failures (tests assert codes); each maps to one HTTP status. */
export const IdentityCodes = {
  VALIDATION: [400, 'the request failed validation'],
  UNAUTHENTICATED: [401, 'no valid token or password'],
  FORBIDDEN: [403, 'the role may not do this'],
  USER_NOT_FOUND: [404, 'no such user'],
  SEAT_NOT_FOUND: [404, 'no such seat'],
  SEAT_GROUP_NOT_FOUND: [404, 'no such seat group'],
  SEAT_EXISTS: [409, 'a seat with this name or MAC exists'],
  SEAT_BUSY: [409, 'the seat already has an open session'],
  NO_OPEN_SESSION: [409, 'the seat has no open session'],
  NOT_A_MEMBER: [409, 'the user has no member account'],
  INSUFFICIENT_BALANCE: [409, 'the member balance does not cover the charge'],
  OPERATOR_EXISTS: [409, 'an operator with this name exists'],
} as const;
export type IdentityCode = keyof typeof IdentityCodes;

export class IdentityError extends Error {
  constructor(
    readonly code: IdentityCode,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }

  get status(): number {
    return IdentityCodes[this.code][0];
  }
}
