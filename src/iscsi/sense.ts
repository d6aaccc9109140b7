/** SCSI sense data (SPC-4 §4.5.3 fixed format 0x70) and the key/ASC/ASCQ triples we report. */
export interface Sense {
  key: number;
  asc: number;
  ascq: number;
  /** SPC-4 §4.5.2.4.2: sense-key specific field pointer to the bad CDB byte */
  fieldPointer?: { cdb: boolean; byte: number };
  /** INFORMATION field (e.g. first miscompare offset) */
  information?: number;
}

export const SenseKey = {
  NO_SENSE: 0x0,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;

const s = (key: number, asc: number, ascq: number): Sense => ({ key, asc, ascq });
export const Senses = {
  INVALID_OPCODE: s(0x5, 0x20, 0x00),
  LBA_OUT_OF_RANGE: s(0x5, 0x21, 0x00),
  INVALID_FIELD_IN_CDB: s(0x5, 0x24, 0x00),
  INVALID_FIELD_IN_PARAMETER_LIST: s(0x5, 0x26, 0x00),
  PARAMETER_LIST_LENGTH_ERROR: s(0x5, 0x1a, 0x00),
  LUN_NOT_SUPPORTED: s(0x5, 0x25, 0x00),
  SAVING_PARAMETERS_NOT_SUPPORTED: s(0x5, 0x39, 0x00),
  WRITE_PROTECTED: s(0x7, 0x27, 0x00),
  /** LIO's TCM_SPACE_ALLOCATION_FAILED_WRITE_PROTECT: thin-provisioned space exhausted (SBC-3 §4.7.3.6) */
  SPACE_ALLOCATION_FAILED: s(0x7, 0x27, 0x07),
  MISCOMPARE_DURING_VERIFY: s(0xe, 0x1d, 0x00),
  POWER_ON_RESET: s(0x6, 0x29, 0x00),
  UNRECOVERED_READ_ERROR: s(0x3, 0x11, 0x00),
  WRITE_ERROR: s(0x3, 0x0c, 0x00),
  PROTOCOL_CRC_ERROR: s(0xb, 0x47, 0x05),
  /** a Data-Out out of sequence (bad DataSN or buffer offset) */
  DATA_PHASE_ERROR: s(0xb, 0x4b, 0x00),
  /** a write whose EDTL is below the CDB's length and not whole blocks */
  INVALID_FIELD_IN_COMMAND_IU: s(0x5, 0x0e, 0x03),
  /** iSCSI: data-out overflow / unexpected unsolicited data (RFC 7143 §11.7.4 / LIO) */
  INVALID_TARGET_PORT_TRANSFER_TAG: s(0xb, 0x0c, 0x0d),
  NOT_ENOUGH_UNSOLICITED_DATA: s(0xb, 0x0c, 0x0d),
} as const;

/** Fixed-format sense data, 18 bytes (SPC-4 §4.5.3). */
export function fixedSense(sense: Sense): Buffer {
  const b = Buffer.alloc(18);
  b[0] = 0x70;
  b[2] = sense.key & 0x0f;
  if (sense.information !== undefined) {
    b[0] |= 0x80; // VALID
    b.writeUInt32BE(sense.information >>> 0, 3);
  }
  b[7] = 10; // additional sense length
  b[12] = sense.asc;
  b[13] = sense.ascq;
  if (sense.fieldPointer) {
    b[15] = 0x80 | (sense.fieldPointer.cdb ? 0x40 : 0);
    b.writeUInt16BE(sense.fieldPointer.byte, 16);
  }
  return b;
}

/** Descriptor-format sense (0x72) header only: REQUEST SENSE with DESC=1 (SPC-4 §4.5.2). */
export function descriptorSense(sense: Sense): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x72;
  b[1] = sense.key & 0x0f;
  b[2] = sense.asc;
  b[3] = sense.ascq;
  return b;
}
