import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { BootRecord, BootRepository } from '../store/boot-repository.ts';
import type { TerminalLocator } from '../terminal/client-address.ts';
import type { Mac } from '../terminal/mac.ts';

/** Stages of one netboot, in the order they happen. A boot's stage is the furthest one reached. */
export const BOOT_STAGES = [
  'dhcp-offered',
  'dhcp-acked',
  'nbp',
  'ipxe-dhcp-offered',
  'ipxe-dhcp-acked',
  'script',
  'kernel',
  'initrd',
  'sanboot',
  'booted',
] as const;
export type BootStage = (typeof BOOT_STAGES)[number];
const rank = (s: string): number => BOOT_STAGES.indexOf(s as BootStage);

/** A DHCP exchange that is part of a boot starts a new boot unless one is under way and not past it. */
const IN_PROGRESS_MS = 5 * 60_000;

export type FileKind = 'nbp' | 'kernel' | 'initrd';

export interface BootTimelineDeps {
  repo: BootRepository;
  registry: Registry;
  logger: Logger;
  clock?: () => number;
  /** the terminal holding a leased address (file requests carry only the client IP) */
  terminals: Pick<TerminalLocator, 'macForIp'>;
  /** what a served file is for this terminal: its NBP, its profile's kernel or initrd (the boot policy) */
  classifyFile: (mac: Mac, path: string) => FileKind | undefined;
  /** told after every change to a boot (a new boot or a step appended), e.g. the UI's live event stream */
  onChange?: (boot: BootRecord) => void;
}

/**
 * The per-terminal boot state machine (Pixiecore's logging.go idea): lease offered → acked → NBP fetched →
 * iPXE's own DHCP → script → kernel → initrd → booted, each with its time, persisted per boot so the CLI, the
 * API and the UI can show where each second went.
 */
export class BootTimeline {
  private readonly clock: () => number;
  private readonly completed: Counter;
  private readonly duration: Histogram;

  constructor(private readonly deps: BootTimelineDeps) {
    this.clock = deps.clock ?? Date.now;
    this.completed = new Counter({
      name: 'bootgate_boots_completed_total',
      help: 'Terminal boots that reached "booted"',
      registers: [deps.registry],
    });
    this.duration = new Histogram({
      name: 'bootgate_boot_duration_seconds',
      help: 'From the first DHCP message of a boot to the OS reporting it has booted',
      buckets: [2, 4, 6, 8, 10, 15, 20, 30, 45, 60, 120],
      registers: [deps.registry],
    });
  }

  /** A DHCP OFFER or ACK sent to a terminal's boot firmware (PXE ROM, UEFI, or iPXE). */
  dhcp(e: { mac: string; ip: number; acked: boolean; ipxe: boolean; firmware: string; uuid?: string }): void {
    const at = this.clock();
    this.deps.repo.touchTerminal({ mac: e.mac, uuid: e.uuid ?? null, firmware: e.firmware, lastIp: e.ip, at });
    const stage: BootStage = e.ipxe ? (e.acked ? 'ipxe-dhcp-acked' : 'ipxe-dhcp-offered') : e.acked ? 'dhcp-acked' : 'dhcp-offered';
    const latest = this.deps.repo.latestBoot(e.mac);
    const continues = latest && latest.stage !== 'booted' && at - latest.startedAt < IN_PROGRESS_MS && rank(latest.stage) <= rank(stage);
    if (continues) this.append(latest, stage, at);
    else this.changed(this.deps.repo.startBoot(e.mac, { stage, at }));
  }

  fileServed(clientIp: string, path: string): void {
    const mac = this.deps.terminals.macForIp(clientIp);
    if (!mac) return;
    const kind = this.deps.classifyFile(mac, path);
    if (kind) this.event(mac, kind, path);
  }

  scriptServed(mac: string): void {
    this.event(mac, 'script');
  }

  sanboot(mac: string, detail: string): void {
    this.event(mac, 'sanboot', detail);
  }

  booted(mac: string): void {
    this.event(mac, 'booted');
  }

  private event(mac: string, stage: BootStage, detail?: string): void {
    const at = this.clock();
    const latest = this.deps.repo.latestBoot(mac);
    if (latest && latest.stage !== 'booted') return this.append(latest, stage, at, detail);
    // a boot seen first over HTTP (a static address, another DHCP server, a proxyDHCP peer): the terminal row
    // its boot references may not exist yet (boots.mac REFERENCES terminals)
    if (!latest) this.deps.repo.touchTerminal({ mac, at });
    this.changed(this.deps.repo.startBoot(mac, detail === undefined ? { stage, at } : { stage, at, detail }));
  }

  private append(b: BootRecord, stage: BootStage, at: number, detail?: string): void {
    b.events.push(detail === undefined ? { stage, at } : { stage, at, detail });
    if (rank(stage) > rank(b.stage)) b.stage = stage;
    this.deps.repo.saveBoot(b);
    this.changed(b);
    if (stage === 'booted') {
      this.completed.inc();
      this.duration.observe((at - b.startedAt) / 1000);
      this.deps.logger.info({ mac: b.mac, seconds: (at - b.startedAt) / 1000, timeline: formatTimeline(b) }, 'terminal booted');
    }
  }

  private changed(b: BootRecord): void {
    try {
      this.deps.onChange?.(b);
    } catch (e) {
      this.deps.logger.error({ err: e, mac: b.mac }, 'boot change listener failed');
    }
  }
}

/** "dhcp-offered +0.00s, dhcp-acked +0.02s, …" */
export function formatTimeline(b: BootRecord): string {
  return b.events.map((e) => `${e.stage} +${((e.at - b.startedAt) / 1000).toFixed(2)}s`).join(', ');
}
