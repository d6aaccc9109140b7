/** Every codec reports malformed input with one error type: which protocol, where, and a stable code. */
export class DecodeError extends Error {
  constructor(
    readonly protocol: string,
    readonly offset: number,
    readonly code: string,
    detail: string,
  ) {
    super(`${protocol}: ${code} at offset ${offset}: ${detail}`);
    this.name = 'DecodeError';
  }
}
