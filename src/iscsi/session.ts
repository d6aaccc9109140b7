import type { DeviceLease } from './block-device.ts';
import type { SessionParams } from './negotiation.ts';

/** One iSCSI session (RFC 7143 §4.4): with MaxConnections=1 it has exactly one connection. */
export interface Session {
  tsih: number;
  type: 'Normal' | 'Discovery';
  initiatorName: string;
  targetName: string;
  isid: string;
  params: SessionParams;
  lease?: DeviceLease;
  /** drops the session's connection and releases its disk (session reinstatement, stop()) */
  close(reason: string): Promise<void>;
}

/** Sessions by initiator + ISID + target: the key RFC 7143 §4.4.3 uses for reinstatement. */
export class SessionTable {
  private readonly byKey = new Map<string, Session>();
  private nextTsih = 1;

  static key(initiatorName: string, isid: string, targetName: string): string {
    return `${initiatorName}\0${isid}\0${targetName}`;
  }

  allocateTsih(): number {
    const t = this.nextTsih;
    this.nextTsih = this.nextTsih >= 0xffff ? 1 : this.nextTsih + 1;
    return t;
  }

  get(key: string): Session | undefined {
    return this.byKey.get(key);
  }

  byTsih(tsih: number): Session | undefined {
    for (const s of this.byKey.values()) if (s.tsih === tsih) return s;
    return undefined;
  }

  set(key: string, s: Session): void {
    this.byKey.set(key, s);
  }

  delete(key: string, s: Session): void {
    if (this.byKey.get(key) === s) this.byKey.delete(key);
  }

  all(): Session[] {
    return [...this.byKey.values()];
  }
}
