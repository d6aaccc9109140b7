/**
 * The gate: owns the bootgate nftables table. start() applies the whole ruleset atomically (`nft -f -`), reads
 * it back (`nft -j list table`) and verifies it, and turns on IPv4 forwarding when bootgate owns the gateway
 * role; allow()/deny() change only the seat set, incrementally, through libnftables JSON (`nft -j '<json>'`:
 * the JSON goes on the command line because `nft -j -f -` opens /dev/stdin by path, which fails when stdin is
 * the socketpair Node gives a child);
 * stop() removes the table and puts ip_forward back as it found it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '../../log/logger.ts';
import { isIpv4 } from '../../wire/ipv4.ts';
import { renderRuleset, allowedDestinationsCommand, seatElementCommand, type GateRulesetConfig } from './ruleset.ts';
import type { NftRunner } from '../../net/nft-runner.ts';

export interface GateOptions extends Omit<GateRulesetConfig, 'seats'> {
  /** turn on /proc/sys/net/ipv4/ip_forward (bootgate owns the gateway role) */
  manageForwarding: boolean;
}

export interface GateDeps {
  options: GateOptions;
  logger: Logger;
  nft: NftRunner;
  /** addresses of the seats with an open session, read when the table is (re)applied */
  currentSeats: () => readonly string[];
  /** where ip_forward lives (tests point it elsewhere) */
  ipForwardPath?: string;
}

export interface SeatCounter {
  packets: number;
  bytes: number;
}

export class GateVerifyError extends Error {
  readonly code = 'GATE_VERIFY';
  constructor(detail: string) {
    super(`nftables table does not match what was applied: ${detail}`);
  }
}

interface NftJson {
  nftables: Array<Record<string, Record<string, unknown>>>;
}

const CHAINS = ['prerouting', 'forward', 'postrouting'] as const;

export class NftablesGate {
  private readonly log: Logger;
  private readonly seats = new Set<string>();
  private previousIpForward: string | undefined;
  private started = false;
  /** set changes run one at a time, in call order */
  private queue: Promise<unknown> = Promise.resolve();
  /** the allow-listed destinations: as configured, then as last set */
  private allowed: readonly string[] | undefined;

  constructor(private readonly deps: GateDeps) {
    this.log = deps.logger.child({ module: 'gateway.nftables' });
    this.allowed = deps.options.allowedDestinations;
  }

  private get table(): string {
    return this.deps.options.table;
  }

  async start(): Promise<void> {
    await this.apply();
    if (this.deps.options.manageForwarding) {
      const path = this.deps.ipForwardPath ?? '/proc/sys/net/ipv4/ip_forward';
      this.previousIpForward = (await readFile(path, 'utf8')).trim();
      await writeFile(path, '1\n');
      this.log.info({ path, previous: this.previousIpForward }, 'IPv4 forwarding turned on: bootgate owns the gateway role');
    }
    this.started = true;
  }

  /** Replaces the whole table atomically with the current seats, then verifies it. */
  async apply(): Promise<void> {
    const seats = this.deps.currentSeats().filter(isIpv4);
    const text = renderRuleset({ ...this.deps.options, ...(this.allowed ? { allowedDestinations: this.allowed } : {}), seats });
    await this.deps.nft(['-f', '-'], text);
    this.seats.clear();
    for (const s of seats) this.seats.add(s);
    await this.verify();
    this.log.info({ table: this.table, seats: seats.length }, 'nftables table applied and verified');
  }

  /** Reads the table back and checks the chains and the seat set are what we applied. */
  async verify(): Promise<void> {
    const out = await this.deps.nft(['-j', 'list', 'table', 'inet', this.table]);
    const json = JSON.parse(out) as NftJson;
    const chains = new Set<string>();
    let elems: string[] | undefined;
    for (const o of json.nftables) {
      if (o.chain && o.chain.table === this.table) chains.add(String(o.chain.name));
      if (o.set && o.set.table === this.table && o.set.name === 'seats') elems = elemValues(o.set.elem);
    }
    for (const c of [...CHAINS, ...(this.deps.options.lanServices ? ['input'] : [])])
      if (!chains.has(c)) throw new GateVerifyError(`chain ${c} missing`);
    if (!elems) throw new GateVerifyError('set seats missing');
    const want = [...this.seats].sort();
    const have = [...elems].sort();
    if (want.join() !== have.join()) throw new GateVerifyError(`seats ${have.join(' ')} != ${want.join(' ')}`);
  }

  /** Lets a seat address through (its session opened). */
  allow(ip: string): Promise<void> {
    return this.serial(async () => {
      if (this.seats.has(ip)) return;
      await this.deps.nft(['-j', seatElementCommand(this.table, 'add', [ip])]);
      this.seats.add(ip);
      this.log.info({ ip }, 'seat allowed');
    });
  }

  /**
   * Sets the destinations seats may reach in the forward chain to exactly these IPv4 networks (the configured ones
   * and the registered platform instances' addresses), when a platform instance is registered or removed after
   * start; a later apply() uses them too.
   */
  setAllowedDestinations(networks: readonly string[]): Promise<void> {
    return this.serial(async () => {
      await this.deps.nft(['-j', allowedDestinationsCommand(this.table, networks)]);
      this.allowed = [...networks];
      this.log.info({ destinations: networks.length }, 'allow-listed destinations set');
    });
  }

  /** Closes the gate for a seat address (its session closed). */
  deny(ip: string): Promise<void> {
    return this.serial(async () => {
      if (!this.seats.has(ip)) return;
      await this.deps.nft(['-j', seatElementCommand(this.table, 'delete', [ip])]);
      this.seats.delete(ip);
      this.log.info({ ip }, 'seat denied');
    });
  }

  /** Per-seat packet/byte counters of the seat set (traffic forwarded from each seat). */
  async counters(): Promise<Map<string, SeatCounter>> {
    const out = await this.deps.nft(['-j', 'list', 'set', 'inet', this.table, 'seats']);
    const json = JSON.parse(out) as NftJson;
    const result = new Map<string, SeatCounter>();
    for (const o of json.nftables) {
      if (!o.set || !Array.isArray(o.set.elem)) continue;
      for (const e of o.set.elem as unknown[]) {
        const inner = (e as { elem?: { val?: unknown; counter?: SeatCounter } }).elem;
        if (inner && typeof inner.val === 'string') result.set(inner.val, inner.counter ?? { packets: 0, bytes: 0 });
      }
    }
    return result;
  }

  allowedSeats(): string[] {
    return [...this.seats];
  }

  async stop(): Promise<void> {
    await this.queue.catch(() => undefined);
    try {
      await this.deps.nft(['delete', 'table', 'inet', this.table]);
      this.log.info({ table: this.table }, 'nftables table removed');
    } catch (err) {
      this.log.warn({ err }, 'nftables table could not be removed');
    }
    if (this.started && this.previousIpForward !== undefined && this.previousIpForward !== '1') {
      const path = this.deps.ipForwardPath ?? '/proc/sys/net/ipv4/ip_forward';
      await writeFile(path, `${this.previousIpForward}\n`);
      this.log.info({ path, value: this.previousIpForward }, 'IPv4 forwarding restored');
    }
    this.started = false;
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** Set elements as nft -j prints them: plain values, or { elem: { val, counter } } with per-element counters. */
function elemValues(elem: unknown): string[] {
  if (!Array.isArray(elem)) return [];
  const out: string[] = [];
  for (const e of elem) {
    if (typeof e === 'string') out.push(e);
    else if (e && typeof e === 'object' && 'elem' in e) {
      const v = (e as { elem: { val?: unknown } }).elem.val;
      if (typeof v === 'string') out.push(v);
    }
  }
  return out;
}
