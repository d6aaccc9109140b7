/** TFTP opcodes (RFC 1350 §5; OACK from RFC 2347). */
export const Op = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  /** RFC 2347 option acknowledgment */
  OACK: 6,
} as const;

/** TFTP error codes (RFC 1350 appendix; 8 from RFC 2347). */
export const TftpErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  /** RFC 2347: the client (or server) rejects the option negotiation */
  OPTION_REJECTED: 8,
} as const;

export const DEFAULT_BLKSIZE = 512;
/** RFC 2348: valid blksize values */
export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
/** RFC 2349: valid timeout values, seconds */
export const TIMEOUT_MIN = 1;
export const TIMEOUT_MAX = 255;
/** RFC 7440: valid windowsize values */
export const WINDOW_MIN = 1;
export const WINDOW_MAX = 65535;
/** RFC 1350 §2 modes we know (mail is obsolete and refused) */
export const MODES = ['octet', 'netascii'] as const;
export type TransferMode = (typeof MODES)[number];
