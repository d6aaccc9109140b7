/** iSCSI opcodes, flags and status codes (RFC 7143 §11). */

export const BHS_LENGTH = 48;

/** RFC 7143 §11.2.1.2: initiator opcodes. */
export const Op = {
  NOP_OUT: 0x00,
  SCSI_CMD: 0x01,
  TMF_REQ: 0x02,
  LOGIN_REQ: 0x03,
  TEXT_REQ: 0x04,
  DATA_OUT: 0x05,
  LOGOUT_REQ: 0x06,
  SNACK: 0x10,
  /** target opcodes */
  NOP_IN: 0x20,
  SCSI_RSP: 0x21,
  TMF_RSP: 0x22,
  LOGIN_RSP: 0x23,
  TEXT_RSP: 0x24,
  DATA_IN: 0x25,
  LOGOUT_RSP: 0x26,
  R2T: 0x31,
  ASYNC: 0x32,
  REJECT: 0x3f,
} as const;

export const OPCODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k]));

export const IMMEDIATE_BIT = 0x40;
export const FINAL_BIT = 0x80;
export const RESERVED_TAG = 0xffffffff;

/** RFC 7143 §11.13.5: Login status class / detail, as one 16-bit value. */
export const LoginStatus = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMP: 0x0101,
  INITIATOR_ERROR: 0x0200,
  AUTH_FAILED: 0x0201,
  AUTHORIZATION_FAILED: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;

/** RFC 7143 §11.17.1: Reject reasons. */
export const RejectReason = {
  DATA_DIGEST: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OP_REJECT: 0x0a,
  NEGOTIATION_RESET: 0x0b,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

/** RFC 7143 §11.5.1 / §11.6.1: task management functions and responses. */
export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LUN_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;
export const TmfResponse = {
  COMPLETE: 0,
  NO_TASK: 1,
  NO_LUN: 2,
  TASK_ALLEGIANT: 3,
  NO_REASSIGN: 4,
  NOT_SUPPORTED: 5,
  AUTH_FAILED: 6,
  REJECTED: 255,
} as const;

/** Login stages (RFC 7143 §11.12.3: CSG/NSG). */
export const Stage = { SECURITY: 0, OPERATIONAL: 1, FULL_FEATURE: 3 } as const;

/** SCSI status (SAM-5). */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  TASK_ABORTED: 0x40,
} as const;
