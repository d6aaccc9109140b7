/**
 * What the target needs from a disk. The overlay module implements it (golden image + per-terminal
 * copy-on-write overlay); tests use a file or memory. Offsets and lengths are bytes, multiples of blockSize.
 */
export interface BlockDevice {
  readonly blockSize: number;
  /** number of logical blocks */
  readonly blockCount: number;
  readonly readOnly: boolean;
  /** UNMAP / WRITE SAME (UNMAP) are supported; advertised through VPD 0xB2 and READ CAPACITY(16) LBPME */
  readonly supportsUnmap: boolean;
  /** 8 bytes, unique per terminal disk: VPD 0x83 NAA designator (Windows fails on duplicates, virtio-win#460) */
  readonly naa: Buffer;
  /** VPD 0x80 unit serial number (ASCII) */
  readonly serial: string;
  /** reads `length` bytes at `offset` into `buf[bufOffset..]` */
  read(offset: number, length: number, buf: Buffer, bufOffset: number): Promise<void>;
  /** writes; `fua` means durable before it resolves. Rejects with SpaceExhaustedError when the overlay is full */
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  /** SYNCHRONIZE CACHE: everything written before is durable when it resolves */
  flush(): Promise<void>;
  /** drops blocks (UNMAP); reads afterwards return unspecified (here: the golden image's) data */
  unmap(offset: number, length: number): Promise<void>;
}

/** The per-terminal overlay has reached its bound (sense DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT). */
export class SpaceExhaustedError extends Error {
  readonly code = 'OVERLAY_FULL';
  constructor(detail: string) {
    super(detail);
    this.name = 'SpaceExhaustedError';
  }
}

/** Where the target finds disks (policy lives outside the protocol code). */
export interface TargetContext {
  targetName: string;
  initiatorName: string;
  /** the initiator's IP address as seen on the TCP connection */
  clientIp: string;
}

export interface DeviceLease {
  /** LUN 0 */
  device: BlockDevice;
  /** called once when the session ends */
  release(): Promise<void> | void;
}

export interface ChapCredentials {
  /** CHAP_N the initiator must present and the secret it proves (RFC 7143 §12.1.3) */
  user: string;
  secret: string;
  /** mutual CHAP: what we answer with when the initiator challenges us */
  targetUser?: string;
  targetSecret?: string;
}

export type TargetResolution =
  | {
      status: 'ok';
      /** CHAP required when present */
      chap?: ChapCredentials;
      /** opens the disk for a session; `reinstatement` when it replaces the same initiator's old session */
      open(info: { reinstatement: boolean }): Promise<DeviceLease>;
    }
  | { status: 'not-found' }
  | { status: 'not-allowed' };

export interface BlockDeviceProvider {
  /** maps (target IQN, initiator, client IP) to a disk, or not found / not allowed */
  resolve(ctx: TargetContext): Promise<TargetResolution>;
  /** targets this initiator may see in a discovery session (SendTargets=All) */
  listTargets(ctx: Omit<TargetContext, 'targetName'>): Promise<string[]>;
}
