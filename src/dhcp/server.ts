import type { Logger } from 'pino';
import type { DhcpConfig } from './config.ts';
import type { DatagramInfo, DatagramSocket, SocketFactory } from '../net/datagram.ts';
import type { LeaseRecord, LeaseRepository } from '../store/lease-repository.ts';
import { DecodeError } from '../wire/decode-error.ts';
import { broadcastOf, cidrContains, intToIp } from '../wire/ipv4.ts';
import { hardwareAddressText } from '../terminal/mac.ts';
import { decodeDhcp, encodeDhcp, type DhcpPacket } from './codec.ts';
import { BOOTREPLY, BOOTREQUEST, BROADCAST_FLAG, CLIENT_PORT, MessageType, messageTypeName, Opt, PROXY_PORT, SERVER_PORT } from './constants.ts';
import { LeaseTable, makePool, type KnownClients, type OfferShortfall, type Pool } from './lease-table.ts';
import type { DhcpMetrics } from './metrics.ts';
import { StarvationGuard, type StarvationStatus } from './starvation-guard.ts';
import { enc, messageTypeOf, optIp, optText, optU16, parseSubOptions } from './options.ts';
import { clientBootInfo, type BootPolicy, type BootReply, type ClientBootInfo } from './pxe.ts';
import { RateLimiter } from '../net/rate-limiter.ts';
import { SyncWaits } from '../store/wal-sync.ts';

/** EDK2's HTTP boot client discards DHCP replies larger than an Ethernet payload minus IP/UDP (1472). */
const HTTP_BOOT_REPLY_LIMIT = 1472;
const BROADCAST = '255.255.255.255';
const SWEEP_INTERVAL_MS = 10_000;
/** how often the chaddr mismatches refused in the kernel are collected into metrics */
const LINK_STATS_INTERVAL_MS = 1000;

export interface DhcpServerDeps {
  config: Readonly<DhcpConfig>;
  /** the interface terminals are on; the server answers nowhere else */
  lanInterface: string;
  /** option 54 and the address relays and renewing clients talk to */
  serverId: number;
  socketFactory: SocketFactory;
  leases: LeaseRepository;
  policy: BootPolicy;
  logger: Logger;
  metrics: DhcpMetrics;
  /** registered seats: their addresses are kept from unknown clients (LeaseTable.setKnownClients) */
  knownClients?: KnownClients;
  clock?: () => number;
  /** resolves true when something answers at the address (RFC 2131 §2.2 conflict check); only used if enabled */
  conflictProbe?: (ip: string, timeoutMs: number) => Promise<boolean>;
  /** notified after a lease is committed (terminal registry) */
  onLeaseCommitted?: (lease: LeaseRecord) => void;
  /** after commit, for each lease that ended: released by its client (RFC 2131 §4.4.6) or expired */
  onLeaseEnded?: (lease: LeaseRecord) => void;
  /**
   * Makes what was committed durable (WalSync.sync) when the database does not sync inside COMMIT: ACKs wait for
   * it. Absent: the commit is durable by itself (synchronous=FULL) and ACKs leave right after it.
   */
  durable?: () => Promise<void>;
  /** notified when boot firmware (PXE ROM, UEFI, iPXE) is offered or given a lease: the boot timeline */
  onBootDhcp?: (e: { mac: string; ip: number; acked: boolean; ipxe: boolean; firmware: string; uuid?: string }) => void;
}

interface Incoming {
  req: DhcpPacket;
  info: DatagramInfo;
  socket: DatagramSocket;
  mac: string;
  clientKey: string;
  viaProxyPort: boolean;
  /** the frame's Ethernet source for a directly attached client (absent when relayed or not seen) */
  source: string | undefined;
  /** parsed on first use: what the request says about the boot firmware */
  bootInfo?: ClientBootInfo;
}

/**
 * The DHCPv4 server (RFC 2131 §4.3) with PXE boot replies and proxyDHCP (PXE 2.1 §2.2).
 * Leases are committed to the store before their ACK leaves: ACKs in one event-loop turn share one
 * transaction (group commit), then go out together.
 */
export class DhcpServer {
  readonly table: LeaseTable;
  private readonly guard: StarvationGuard;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly limiter: RateLimiter;
  private readonly lanPool: Pool;
  private sockets: DatagramSocket[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private linkStatsTimer: NodeJS.Timeout | undefined;
  private pendingRecords: LeaseRecord[] = [];
  private pendingSends: Array<() => void> = [];
  private flushScheduled = false;
  /** commits waiting for their durable() sync (stop() waits for them) */
  private readonly syncing = new SyncWaits();
  private readonly relayAgents: ReadonlySet<string>;

  constructor(private readonly deps: DhcpServerDeps) {
    const c = deps.config;
    this.clock = deps.clock ?? Date.now;
    this.log = deps.logger;
    this.limiter = new RateLimiter(c.rateLimit.perMacPerSecond, c.rateLimit.burst);
    this.lanPool = makePool(c);
    this.relayAgents = new Set(c.relayAgents);
    this.table = new LeaseTable([this.lanPool, ...c.relaySubnets.map(makePool)], c.reservations, c.offerHoldSeconds * 1000);
    if (deps.knownClients) this.table.setKnownClients(deps.knownClients);
    this.guard = new StarvationGuard(c.starvation, this.table, deps.metrics.starvation, this.log, this.clock);
  }

  /** Pool pressure and the sources the starvation guard refused (for the API and the room UI). */
  starvationStatus(): StarvationStatus {
    return this.guard.status(this.table.pools);
  }

  start(): void {
    this.table.load(this.deps.leases.all());
    this.persist(this.table.expire(this.clock()));
    this.flush();
    const ifname = this.deps.lanInterface;
    // DHCP snooping: each request's frame source; spoofed chaddrs are refused in the kernel unless configured otherwise
    const linkSource = this.deps.config.starvation.chaddrMismatch === 'refuse' ? 'refuse-mismatch' : 'report';
    this.sockets.push(this.deps.socketFactory({ ifname, port: SERVER_PORT, linkSource }, (buf, info) => this.receive(buf, info, 0)));
    this.sockets.push(this.deps.socketFactory({ ifname, port: PROXY_PORT, linkSource }, (buf, info) => this.receive(buf, info, 1)));
    if (this.sockets[0]?.linkSource === false)
      this.log.warn({ interface: ifname }, 'no link-layer source for DHCP (AF_PACKET unavailable): per-source starvation limits are off');
    if (this.sockets.some((s) => s.linkStats)) {
      this.linkStatsTimer = setInterval(() => this.collectLinkStats(), LINK_STATS_INTERVAL_MS);
      this.linkStatsTimer.unref();
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
    this.updatePoolGauges();
    this.log.info({ interface: ifname, mode: this.deps.config.mode, serverId: intToIp(this.deps.serverId) }, 'dhcp server listening');
  }

  /** Commits what is pending, lets the ACKs waiting for their sync leave, then closes the sockets. */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.linkStatsTimer) clearInterval(this.linkStatsTimer);
    this.collectLinkStats();
    this.flush();
    await this.syncing.drain();
    for (const s of this.sockets) s.close();
    this.sockets = [];
  }

  /** Spoofed-chaddr requests the kernel refused (they never reached us): counted and named by the guard. */
  collectLinkStats(): void {
    for (const s of this.sockets) {
      const st = s.linkStats?.();
      if (st && st.refused > 0) {
        this.guard.kernelRefused(st.refused, st.sources);
        this.deps.metrics.drops.inc({ reason: 'chaddr_mismatch' }, st.refused);
      }
    }
  }

  private sweep(): void {
    const now = this.clock();
    const expired = this.table.expire(now);
    this.persist(expired);
    // committed now, not at the next packet: the room screen shows the lease end when it happens
    if (expired.length > 0) this.scheduleFlush();
    this.limiter.sweep(now);
    this.guard.sweep(this.table.pools);
    this.updatePoolGauges();
    this.scheduleFlush();
  }

  private updatePoolGauges(): void {
    const now = this.clock();
    for (const pool of this.table.pools) {
      const u = this.table.usage(pool, now);
      for (const [state, n] of Object.entries(u)) this.deps.metrics.poolAddresses.set({ subnet: pool.name, state }, n);
    }
  }

  private drop(reason: string, info: DatagramInfo, detail?: object): void {
    this.deps.metrics.drops.inc({ reason });
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason, peer: `${info.address}:${info.port}`, ...detail }, 'dhcp packet dropped');
  }

  /** Entry point for every datagram: bad input is dropped and counted here, never thrown further. */
  receive(buf: Buffer, info: DatagramInfo, socketIndex: number): void {
    const socket = this.sockets[socketIndex];
    if (!socket) return;
    try {
      this.dispatch(buf, info, socket, socketIndex === 1);
    } catch (e) {
      if (e instanceof DecodeError) this.drop(`malformed_${e.code.toLowerCase()}`, info, { offset: e.offset });
      else {
        this.deps.metrics.drops.inc({ reason: 'internal_error' });
        this.log.error({ err: e, peer: info.address }, 'dhcp handler failed; packet dropped');
      }
    }
  }

  private dispatch(buf: Buffer, info: DatagramInfo, socket: DatagramSocket, viaProxyPort: boolean): void {
    const req = decodeDhcp(buf);
    if (req.op !== BOOTREQUEST) return this.drop('not_request', info);
    const type = messageTypeOf(req);
    if (type === undefined) return this.drop('bootp_unsupported', info);
    this.deps.metrics.packetsIn.labels(messageTypeName[type] ?? 'UNKNOWN').inc();
    if (req.hlen === 0 || req.hlen > 16) return this.drop('bad_hlen', info);
    const mac = hardwareAddressText(req.chaddr.subarray(0, req.hlen));
    // RFC 2131 §4.1: giaddr is set by a relay agent. A request with giaddr from an address that is not a configured
    // agent is a client writing giaddr to pass for a relay and skip the frame-source checks below.
    if (req.giaddr !== 0 && !this.relayAgents.has(info.address)) return this.drop('untrusted_relay', info, { mac, giaddr: intToIp(req.giaddr) });
    // A relayed request's frame comes from the relay, not the client: only direct ones are judged by source.
    const source = req.giaddr === 0 ? info.linkSource : undefined;
    if (this.guard.checkChaddr(source, mac, req.htype, req.hlen)) return this.drop('chaddr_mismatch', info, { mac, source });
    // Rate limited per frame source when known (one machine, however many chaddrs it writes), else per chaddr.
    if (!this.limiter.allow(source ?? mac, this.clock())) return this.drop('rate_limited', info, { mac, source });
    const clientId = req.options.get(Opt.CLIENT_ID);
    // D6: keyed on chaddr by default, because PXE ROM, iPXE and the OS send different option 61 values.
    const clientKey = this.deps.config.matchClientId && clientId ? `id:${clientId.toString('hex')}` : `hw:${mac}`;
    const msg: Incoming = { req, info, socket, mac, clientKey, viaProxyPort, source };

    if (viaProxyPort) return this.onBootServerRequest(msg, type);
    if (this.deps.config.mode === 'proxy') return this.onProxyDhcp(msg, type);
    switch (type) {
      case MessageType.DISCOVER:
        return this.onDiscover(msg);
      case MessageType.REQUEST:
        return this.onRequest(msg);
      case MessageType.DECLINE:
        return this.onDecline(msg);
      case MessageType.RELEASE:
        return this.onRelease(msg);
      case MessageType.INFORM:
        return this.onInform(msg);
      default:
        return this.drop('unexpected_type', info, { type });
    }
  }

  /** The subnet a request belongs to: giaddr's (relayed) or the LAN's (RFC 2131 §4.3.1). */
  private poolOf(m: Incoming): Pool | undefined {
    if (m.req.giaddr === 0) return this.lanPool;
    return this.table.poolFor(m.req.giaddr);
  }

  private bootInfo(m: Incoming): ClientBootInfo {
    return (m.bootInfo ??= clientBootInfo(m.req));
  }

  private boot(m: Incoming): BootReply | undefined {
    const info = this.bootInfo(m);
    if (!info.pxe && !info.httpBoot && !info.ipxe) return undefined;
    return this.deps.policy.bootReply(info, m.mac);
  }

  // ---- RFC 2131 §4.3.1 DISCOVER ------------------------------------------------------------------------------

  private onDiscover(m: Incoming): void {
    const pool = this.poolOf(m);
    if (!pool) return this.drop('unknown_relay_subnet', m.info, { giaddr: intToIp(m.req.giaddr) });
    const now = this.clock();
    if (m.source !== undefined && this.guard.admitOffer(m.source, m.clientKey, m.mac, now))
      return this.drop('starvation_guard', m.info, { mac: m.mac, source: m.source });
    const known = this.table.isKnownClient(m.mac);
    const o: { holdMs: number; known: boolean; shortfall?: OfferShortfall } = {
      holdMs: this.guard.offerHoldMs(pool, known, this.deps.config.offerHoldSeconds * 1000),
      known,
    };
    const ip = this.table.offer(pool, m.clientKey, m.mac, optIp(m.req, Opt.REQUESTED_IP), now, undefined, o);
    if (ip === undefined) return o.shortfall === 'known_reserve' ? this.reserveRefused(pool, m) : this.exhausted(pool, m);
    if (m.source !== undefined) this.guard.noteOffer(m.source, m.clientKey);
    if (this.deps.config.conflictCheck.enabled && this.deps.conflictProbe) {
      void this.offerAfterProbe(m, pool, ip, new Set());
      return;
    }
    this.sendOffer(m, pool, ip);
  }

  /** Only addresses kept for registered terminals are left: an unknown client gets none of them. */
  private reserveRefused(pool: Pool, m: Incoming): void {
    this.guard.reserveRefused(m.source ?? m.info.linkSource, m.mac);
    this.drop('known_reserve', m.info, { subnet: pool.name, mac: m.mac });
  }

  private exhausted(pool: Pool, m: Incoming): void {
    this.deps.metrics.poolExhausted.inc({ subnet: pool.name });
    this.log.warn({ subnet: pool.name, mac: m.mac }, 'dhcp pool exhausted: no address to offer');
  }

  /** RFC 2131 §2.2 / §4.4.1: probe before offering; an address that answers is quarantined like a DECLINE. */
  private async offerAfterProbe(m: Incoming, pool: Pool, ip: number, tried: Set<number>): Promise<void> {
    const { timeoutMs } = this.deps.config.conflictCheck;
    for (let attempt = 0; attempt < 4; attempt++) {
      let inUse = false;
      try {
        inUse = await this.deps.conflictProbe!(intToIp(ip), timeoutMs);
      } catch (e) {
        this.log.warn({ err: e }, 'conflict probe failed; offering without it');
      }
      if (!inUse) return this.sendOffer(m, pool, ip);
      this.log.warn({ ip: intToIp(ip), mac: m.mac }, 'address answers ping; quarantined and not offered');
      tried.add(ip);
      this.persist([
        this.table.decline(`conflict:${intToIp(ip)}`, '00:00:00:00:00:00', ip, this.deps.config.declineQuarantineSeconds * 1000, this.clock()),
      ]);
      this.scheduleFlush();
      const next = this.table.offer(pool, m.clientKey, m.mac, undefined, this.clock(), tried);
      if (next === undefined) return this.exhausted(pool, m);
      ip = next;
    }
  }

  private sendOffer(m: Incoming, pool: Pool, ip: number): void {
    const reply = this.reply(m, MessageType.OFFER, { yiaddr: ip, pool, lease: true });
    this.send(m, reply, false);
    this.notifyBoot(m, ip, false);
  }

  private notifyBoot(m: Incoming, ip: number, acked: boolean): void {
    if (!this.deps.onBootDhcp) return;
    const info = this.bootInfo(m);
    if (!info.pxe && !info.httpBoot && !info.ipxe) return;
    const e: Parameters<NonNullable<DhcpServerDeps['onBootDhcp']>>[0] = { mac: m.mac, ip, acked, ipxe: info.ipxe, firmware: info.firmware };
    if (info.uuid) e.uuid = info.uuid.subarray(1).toString('hex');
    try {
      this.deps.onBootDhcp(e);
    } catch (err) {
      this.log.error({ err }, 'boot timeline hook failed');
    }
  }

  // ---- RFC 2131 §4.3.2 REQUEST -------------------------------------------------------------------------------

  private onRequest(m: Incoming): void {
    const { req } = m;
    const serverId = optIp(req, Opt.SERVER_ID);
    const requested = optIp(req, Opt.REQUESTED_IP);
    const now = this.clock();
    const pool = this.poolOf(m);
    if (!pool) return this.drop('unknown_relay_subnet', m.info);

    if (serverId !== undefined) {
      // SELECTING: the client answers one server's offer; everyone else takes theirs back silently.
      if (serverId !== this.deps.serverId) {
        this.table.dropOffer(m.clientKey);
        return this.drop('other_server_selected', m.info);
      }
      const ip = requested ?? req.ciaddr;
      if (!ip) return this.drop('no_requested_address', m.info);
      // A REQUEST for an address never offered to it is a new allocation: the reserve applies (a spoofer may skip DISCOVER).
      if (!this.table.isOwn(ip, m.clientKey, now) && !this.table.mayAllocate(pool, m.clientKey, m.mac, now)) return this.reserveRefused(pool, m);
      if (this.table.isAvailable(ip, pool, m.clientKey, m.mac, now)) return this.ack(m, pool, ip);
      return this.nak(m, 'requested address not available');
    }

    if (requested !== undefined && req.ciaddr === 0) {
      // INIT-REBOOT: the client remembers an address and asks to keep it.
      if (!cidrContains(pool.cidr, requested)) return this.nak(m, 'requested address is on the wrong network');
      const lease = this.table.leaseOf(m.clientKey);
      const reserved = this.table.reservationFor(m.mac);
      const known = (lease !== undefined && lease.ip === requested) || reserved?.ip === requested;
      if (known && this.table.isAvailable(requested, pool, m.clientKey, m.mac, now)) return this.ack(m, pool, requested);
      if (lease !== undefined || reserved !== undefined || this.deps.config.authoritative)
        return this.nak(m, "requested address is not this client's");
      return this.drop('init_reboot_unknown_client', m.info);
    }

    if (req.ciaddr !== 0) {
      // RENEWING (unicast) or REBINDING (broadcast): extend the binding named by ciaddr (§4.3.2 "SHOULD check").
      const lease = this.table.recordAt(req.ciaddr);
      if (
        lease &&
        lease.clientKey === m.clientKey &&
        lease.state !== 'declined' &&
        this.table.isAvailable(req.ciaddr, pool, m.clientKey, m.mac, now)
      ) {
        return this.ack(m, pool, req.ciaddr);
      }
      if (this.deps.config.authoritative && (cidrContains(pool.cidr, req.ciaddr) || lease)) return this.nak(m, 'no binding for ciaddr');
      return this.drop('renew_unknown_binding', m.info);
    }
    return this.drop('request_without_address', m.info);
  }

  private ack(m: Incoming, pool: Pool, ip: number): void {
    const now = this.clock();
    if (m.source !== undefined) {
      if (this.guard.admitBinding(m.source, m.clientKey, m.mac, now)) return this.drop('starvation_guard', m.info, { mac: m.mac, source: m.source });
      this.guard.noteBinding(m.source, m.clientKey);
    }
    const hostname = optText(m.req, Opt.HOSTNAME) ?? this.table.reservationFor(m.mac)?.hostname ?? null;
    const records = this.table.bind(m.clientKey, m.mac, ip, hostname, this.deps.config.leaseSeconds * 1000, now);
    const reply = this.reply(m, MessageType.ACK, { yiaddr: ip, pool, lease: true });
    this.persist(records);
    this.send(m, reply, true);
    this.notifyBoot(m, ip, true);
  }

  private nak(m: Incoming, why: string): void {
    this.table.dropOffer(m.clientKey);
    // Table 3: a NAK carries 53, 54, 56 and, echoed, 61 and 82 only; yiaddr and siaddr are zero.
    const r = this.baseReply(m.req, MessageType.NAK);
    r.options.set(Opt.MESSAGE, enc.text(why));
    const clientId = m.req.options.get(Opt.CLIENT_ID);
    if (clientId) r.options.set(Opt.CLIENT_ID, clientId);
    this.log.info({ mac: m.mac, why }, 'dhcp NAK');
    this.send(m, r, false, true);
  }

  // ---- RFC 2131 §4.3.3–4.3.5 DECLINE, RELEASE, INFORM ----------------------------------------------------------

  private onDecline(m: Incoming): void {
    const serverId = optIp(m.req, Opt.SERVER_ID);
    if (serverId !== undefined && serverId !== this.deps.serverId) return this.drop('other_server_selected', m.info);
    const ip = optIp(m.req, Opt.REQUESTED_IP);
    if (ip === undefined) return this.drop('decline_without_address', m.info);
    const now = this.clock();
    const rec = this.table.recordAt(ip);
    const ours = this.table.offeredTo(m.clientKey, now) === ip || rec?.clientKey === m.clientKey;
    if (!ours) return this.drop('decline_not_ours', m.info, { ip: intToIp(ip) });
    this.log.warn(
      { ip: intToIp(ip), mac: m.mac, quarantineSeconds: this.deps.config.declineQuarantineSeconds },
      'client declined address: in use on the network, quarantined',
    );
    this.persist([this.table.decline(m.clientKey, m.mac, ip, this.deps.config.declineQuarantineSeconds * 1000, now)]);
    this.scheduleFlush();
  }

  private onRelease(m: Incoming): void {
    const serverId = optIp(m.req, Opt.SERVER_ID);
    if (serverId !== undefined && serverId !== this.deps.serverId) return this.drop('other_server_selected', m.info);
    const rec = this.table.release(m.clientKey, m.req.ciaddr, this.clock());
    if (!rec) return this.drop('release_unknown_binding', m.info);
    this.persist([rec]);
    this.scheduleFlush();
  }

  private onInform(m: Incoming): void {
    if (m.req.ciaddr === 0) return this.drop('inform_without_ciaddr', m.info);
    const pool = m.req.giaddr ? this.table.poolFor(m.req.giaddr) : (this.table.poolFor(m.req.ciaddr) ?? this.lanPool);
    const reply = this.reply(m, MessageType.ACK, { yiaddr: 0, pool, lease: false });
    this.send(m, reply, false);
  }

  // ---- proxyDHCP (PXE 2.1 §2.2.1, §2.2.3) --------------------------------------------------------------------

  /** Proxy mode on port 67: another server hands out addresses; we answer PXE DISCOVERs with boot data only. */
  private onProxyDhcp(m: Incoming, type: number): void {
    if (type !== MessageType.DISCOVER) return this.drop('proxy_ignores_type', m.info, { type });
    const boot = this.boot(m);
    if (!boot) return this.drop('proxy_not_pxe_client', m.info);
    // Table 2-3: yiaddr = ciaddr = 0, no lease time; sent by broadcast.
    const r = this.baseReply(m.req, MessageType.OFFER);
    this.applyBoot(r, boot, true);
    this.transmit(m, r, { address: BROADCAST, port: CLIENT_PORT });
  }

  /**
   * Port 4011 (PXE 2.1 §2.2.3): a client that got its address elsewhere asks for its boot file, with ciaddr
   * set and, from PXE ROMs, option 43.71 = (boot server type, layer). ACK unicast to ciaddr:source port.
   */
  private onBootServerRequest(m: Incoming, type: number): void {
    if (type !== MessageType.REQUEST && type !== MessageType.INFORM) return this.drop('proxy_ignores_type', m.info, { type });
    if (m.req.ciaddr === 0) return this.drop('proxy_request_without_ciaddr', m.info);
    const vendor = m.req.options.get(Opt.VENDOR_SPECIFIC);
    const subs = vendor ? parseSubOptions(vendor) : undefined;
    const bootItem = subs?.get(71);
    if (bootItem) {
      if (bootItem.length !== 4) return this.drop('proxy_bad_boot_item', m.info);
      const serverType = bootItem.readUInt16BE(0);
      const layer = bootItem.readUInt16BE(2);
      // Tables 2-4/2-5: type 0 is the PXE bootstrap server (the only one we are); the layer MSB asks for
      // credentials, which we do not serve.
      if (serverType !== 0 || layer & 0x8000) return this.drop('proxy_unsupported_boot_item', m.info, { serverType, layer });
    }
    const boot = this.boot(m);
    if (!boot) return this.drop('proxy_not_pxe_client', m.info);
    const r = this.baseReply(m.req, MessageType.ACK);
    r.yiaddr = m.req.ciaddr;
    r.ciaddr = m.req.ciaddr;
    this.applyBoot(r, boot, true);
    if (bootItem) r.options.set(Opt.VENDOR_SPECIFIC, Buffer.from([71, 4, ...bootItem, 255]));
    this.transmit(m, r, { address: intToIp(m.req.ciaddr), port: m.info.port });
  }

  // ---- replies -----------------------------------------------------------------------------------------------

  /** RFC 2131 Table 3 common fields: xid, flags, giaddr, chaddr copied; hops and secs zero; 53 and 54 first. */
  private baseReply(req: DhcpPacket, type: number): DhcpPacket {
    const options = new Map<number, Buffer>();
    options.set(Opt.MESSAGE_TYPE, enc.u8(type));
    options.set(Opt.SERVER_ID, enc.ip(this.deps.serverId));
    const relay = req.options.get(Opt.RELAY_AGENT_INFO);
    if (relay) options.set(Opt.RELAY_AGENT_INFO, relay); // RFC 3046 §2.2: echoed whole; the encoder puts it last
    return {
      op: BOOTREPLY,
      htype: req.htype,
      hlen: req.hlen,
      hops: 0,
      xid: req.xid,
      secs: 0,
      flags: req.flags,
      ciaddr: 0,
      yiaddr: 0,
      siaddr: 0,
      giaddr: req.giaddr,
      chaddr: req.chaddr,
      sname: '',
      file: '',
      options,
    };
  }

  private reply(m: Incoming, type: number, o: { yiaddr: number; pool: Pool | undefined; lease: boolean }): DhcpPacket {
    const r = this.baseReply(m.req, type);
    r.yiaddr = o.yiaddr;
    if (type === MessageType.ACK) r.ciaddr = m.req.ciaddr;
    const opts = r.options;
    if (o.lease) {
      // Table 3: OFFER/ACK carry 51; 58/59 sent explicitly at 0.5 and 0.875 of the lease (§4.4.5).
      const secs = this.deps.config.leaseSeconds;
      opts.set(Opt.LEASE_TIME, enc.u32(secs));
      opts.set(Opt.RENEWAL_T1, enc.u32(Math.floor(secs / 2)));
      opts.set(Opt.REBINDING_T2, enc.u32(Math.floor((secs * 7) / 8)));
    }
    if (o.pool) {
      const c = o.pool.config;
      opts.set(Opt.SUBNET_MASK, enc.u32(o.pool.cidr.mask));
      opts.set(Opt.BROADCAST, enc.u32(broadcastOf(o.pool.cidr)));
      if (c.router) opts.set(Opt.ROUTER, enc.ip(c.router));
      if (c.dns.length) opts.set(Opt.DNS, enc.ips(c.dns));
      if (c.domain) opts.set(Opt.DOMAIN_NAME, enc.text(c.domain));
    }
    const hostname = this.table.reservationFor(m.mac)?.hostname;
    if (hostname) opts.set(Opt.HOSTNAME, enc.text(hostname));
    const boot = this.boot(m);
    if (boot) this.applyBoot(r, boot, false);
    return r;
  }

  private applyBoot(r: DhcpPacket, boot: BootReply, proxy: boolean): void {
    r.siaddr = boot.nextServer;
    if (boot.file !== undefined) r.file = boot.file;
    r.options.set(Opt.VENDOR_CLASS, enc.text(boot.vendorClass));
    if (boot.vendorOptions) r.options.set(Opt.VENDOR_SPECIFIC, boot.vendorOptions);
    if (boot.bootfileOption !== undefined) r.options.set(Opt.BOOTFILE_NAME, enc.text(boot.bootfileOption));
    if (boot.uuid) r.options.set(Opt.CLIENT_UUID, boot.uuid);
    if (boot.ipxeOptions && !proxy) r.options.set(Opt.IPXE_ENCAP, boot.ipxeOptions);
  }

  /**
   * RFC 2131 §4.1 reply destination: giaddr → relay:67; ciaddr → ciaddr:68; broadcast flag → broadcast;
   * otherwise unicast to yiaddr (after installing the ARP entry, as dnsmasq does) or broadcast as fallback.
   * NAKs go by broadcast, or through the relay with the broadcast bit set.
   */
  private destination(m: Incoming, reply: DhcpPacket, isNak: boolean): { address: string; port: number } {
    const { req } = m;
    if (req.giaddr !== 0) {
      if (isNak) reply.flags |= BROADCAST_FLAG;
      return { address: intToIp(req.giaddr), port: SERVER_PORT };
    }
    if (isNak) return { address: BROADCAST, port: CLIENT_PORT };
    if (req.ciaddr !== 0) return { address: intToIp(req.ciaddr), port: CLIENT_PORT };
    if (req.flags & BROADCAST_FLAG || reply.yiaddr === 0) return { address: BROADCAST, port: CLIENT_PORT };
    const yiaddr = intToIp(reply.yiaddr);
    if (m.socket.setArp(yiaddr, req.chaddr.subarray(0, req.hlen))) return { address: yiaddr, port: CLIENT_PORT };
    return { address: BROADCAST, port: CLIENT_PORT };
  }

  /** Sends now, or (for ACKs) after the lease batch has committed. */
  private send(m: Incoming, reply: DhcpPacket, afterCommit: boolean, isNak = false): void {
    const dest = this.destination(m, reply, isNak);
    if (!afterCommit) return this.transmit(m, reply, dest);
    this.pendingSends.push(() => this.transmit(m, reply, dest));
    this.scheduleFlush();
  }

  private transmit(m: Incoming, reply: DhcpPacket, dest: { address: string; port: number }): void {
    const isHttpBoot = reply.options.get(Opt.VENDOR_CLASS)?.toString('latin1') === 'HTTPClient';
    const { bytes, dropped } = encodeDhcp(reply, {
      maxMessageSize: optU16(m.req, Opt.MAX_MESSAGE_SIZE),
      hardLimit: isHttpBoot ? HTTP_BOOT_REPLY_LIMIT : undefined,
    });
    if (dropped.length) this.log.warn({ dropped, mac: m.mac }, "dhcp reply options did not fit the client's size limit");
    const type = messageTypeName[reply.options.get(Opt.MESSAGE_TYPE)![0]!] ?? 'UNKNOWN';
    if (m.socket.send(bytes, dest.address, dest.port)) this.deps.metrics.packetsOut.labels(type).inc();
    else this.deps.metrics.drops.inc({ reason: 'send_failed' });
  }

  // ---- group commit ------------------------------------------------------------------------------------------

  private persist(records: LeaseRecord[]): void {
    for (const r of records) this.pendingRecords.push(r);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Commits every pending lease record in one transaction, then releases the replies that waited for it. */
  flush(): void {
    this.flushScheduled = false;
    const records = this.pendingRecords;
    const sends = this.pendingSends;
    this.pendingRecords = [];
    this.pendingSends = [];
    if (records.length) {
      try {
        this.deps.leases.saveMany(records);
        this.deps.metrics.commitBatch.inc(records.length);
      } catch (e) {
        // Not committed means not acknowledged: the clients retry and get a fresh answer.
        this.log.error({ err: e, count: records.length }, 'lease commit failed; ACKs withheld');
        this.deps.metrics.drops.inc({ reason: 'commit_failed' }, sends.length);
        return;
      }
    }
    // nothing new committed and no earlier commit still syncing: the replies may leave now
    if (!this.deps.durable || (records.length === 0 && this.syncing.size === 0)) return this.release(records, sends);
    // committed, not yet on disk: the ACKs wait for the WAL sync that covers this commit (RFC 2131 §4.3.1 wants
    // the lease on stable storage before the ACK)
    this.syncing.after(
      this.deps.durable,
      () => this.release(records, sends),
      (e: unknown) => {
        this.log.error({ err: e, count: records.length }, 'lease sync failed; ACKs withheld');
        this.deps.metrics.drops.inc({ reason: 'commit_failed' }, sends.length);
      },
    );
  }

  private release(records: LeaseRecord[], sends: Array<() => void>): void {
    for (const send of sends) send();
    if (this.deps.onLeaseCommitted) for (const r of records) if (r.state === 'bound') this.deps.onLeaseCommitted(r);
    if (this.deps.onLeaseEnded) for (const r of records) if (r.state === 'released' || r.state === 'expired') this.deps.onLeaseEnded(r);
  }
}
