import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import { ManagementServer } from './api/management.ts';
import { createIdentityServices } from './compose/identity.ts';
import { createDestinationPolicy, createGatewayServices } from './compose/gateway.ts';
import { createCacheListener, createCacheServices } from './compose/cache.ts';
import { createPlatformServices, type PlatformServices } from './compose/platforms.ts';
import { createDnsServices } from './compose/dns.ts';
import { createUiServices } from './compose/ui.ts';
import { UiEventBus } from './ui/events.ts';
import { bootEvent, leaseEndEvent, leaseEvent } from './ui/room.ts';
import { seatLookup } from './compose/seats.ts';
import { createGatewayMetrics, type GatewayMetrics } from './gateway/metrics.ts';
import { createOverlayRouter } from './api/overlay-api.ts';
import type { RequestHandler, Router } from 'express';
import { createSeatClassRouter } from './api/seat-class-api.ts';
import { createCacheRouter } from './api/cache-api.ts';
import { createDnsStatsRouter } from './ui/network.ts';
import { OverlayWatch } from './ui/room-live.ts';
import { OverlaySizeRepository } from './store/overlay-size-repository.ts';
import type { Config } from './config/schema.ts';
import { describeMissingFile, missingProfileFiles } from './boot/profile-files.ts';
import { WakePacer } from './boot/wake-pacing.ts';
import { ConfiguredBootPolicy } from './boot/policy.ts';
import { createDhcpMetrics } from './dhcp/metrics.ts';
import { DhcpServer } from './dhcp/server.ts';
import { DhcpBridgeGuard } from './dhcp/bridge-guard.ts';
import { execNft } from './net/nft-runner.ts';
import { pingProbe } from './dhcp/ping-probe.ts';
import { BootgateError } from './errors.ts';
import { RouterAdvertiser } from './ipv6/advertiser.ts';
import type { SocketFactory } from './net/datagram.ts';
import { interfaceSocketFactory } from './net/iface-socket.ts';
import { LinkWatcher, createLinkMetrics } from './net/link-watcher.ts';
import { linkReady, type LinkState } from './net/link-state.ts';
import { openDatabase, type Db } from './store/database.ts';
import { AuditWriterThread } from './store/audit-writer-thread.ts';
import { WalSync } from './store/wal-sync.ts';
import { LeaseRepository } from './store/lease-repository.ts';
import { broadcastOf, ipToInt, isIpv4, parseCidr } from './wire/ipv4.ts';
import { BootTimeline } from './boot/timeline.ts';
import { BootRepository } from './store/boot-repository.ts';
import { TftpServer } from './tftp/server.ts';
import { createTftpMetrics } from './tftp/metrics.ts';
import { HttpBootServer } from './http/server.ts';
import { createHttpMetrics } from './http/metrics.ts';
import { IscsiTarget } from './iscsi/target.ts';
import { OverlayManager } from './overlay/manager.ts';
import { OverlayDeviceProvider } from './overlay/provider.ts';
import { intToIp } from './wire/ipv4.ts';
import { tryParseMac, type Mac } from './terminal/mac.ts';
import type { TerminalLocator } from './terminal/client-address.ts';
import { AdmissionQueue, createAdmissionMetrics } from './boot/admission.ts';
import { createBootQueueRouter } from './api/boot-queue-api.ts';

export interface ApplianceOptions {
  logger: Logger;
  socketFactory?: SocketFactory;
}

interface Service {
  name: string;
  /** needs the LAN up (carrier and an address): started once it is, restarted if the device is made again */
  lan?: true;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** The IPv4 literal host of an instance URL, as a one-element list (nothing for a name or IPv6). */
function platformHost(url: string): string[] {
  const host = new URL(url).hostname;
  return isIpv4(host) ? [host] : [];
}

/** The composition root: builds every service from config, starts them in order, stops them in reverse. */
export class Appliance {
  readonly registry = new Registry();
  private readonly services: Service[] = [];
  private started: Service[] = [];
  private db: Db | undefined;
  private wal: WalSync | undefined;
  dhcp: DhcpServer | undefined;
  overlays: OverlayManager | undefined;
  timeline: BootTimeline | undefined;
  /** follows interfaces.lan (docs/interfaces.md) */
  private lan: LinkWatcher | undefined;
  /** the LAN device and address the running LAN services were started with */
  private lanBinding: { ifindex: number; address: string; addressInt: number } | undefined;
  /** LAN service starts and restarts, one at a time */
  private lanChanges: Promise<void> = Promise.resolve();

  constructor(
    readonly config: Readonly<Config>,
    private readonly opts: ApplianceOptions,
  ) {}

  private build(): void {
    const { config } = this;
    const log = this.opts.logger;
    collectDefaultMetrics({ register: this.registry, prefix: 'bootgate_' });
    // commits are made durable off the event loop (WalSync) before anything is acknowledged: see wal-sync.ts
    this.db = openDatabase(join(config.dataDir, 'bootgate.db'), { syncInCommit: false });
    const wal = new WalSync(join(config.dataDir, 'bootgate.db-wal'));
    this.wal = wal;
    const durable = (): Promise<void> => wal.sync();
    const leases = new LeaseRepository(this.db);
    const boots = new BootRepository(this.db);
    // Where each terminal is: the one lookup between leases and MACs, for every module that needs it.
    const terminals: TerminalLocator = {
      macForIp: (ip) => {
        const rec = this.dhcp?.table.recordAt(ipToInt(ip));
        return rec && rec.state === 'bound' ? tryParseMac(rec.mac) : undefined;
      },
      ipForMac: (mac) => {
        const ip = this.dhcp?.table.boundIpOf(mac, Date.now());
        return ip === undefined ? undefined : intToIp(ip);
      },
    };
    // The LAN's address is known once the link is ready (docs/interfaces.md): read when asked, by the services
    // started then (the DHCP server id, boot replies' next-server, the portal, the resolver).
    const lanAddress = (): string => {
      if (!this.lanBinding)
        throw new BootgateError('INTERFACE_MISSING', `interfaces.lan = ${JSON.stringify(config.interfaces.lan)}: no IPv4 address yet`);
      return this.lanBinding.address;
    };
    const dhcpOn = config.dhcp.mode !== 'off';
    const configuredServerId = config.dhcp.serverId ? ipToInt(config.dhcp.serverId) : undefined;
    const serverId = (): number => configuredServerId ?? this.lanBinding?.addressInt ?? ipToInt(lanAddress());
    const bootServer = config.boot.serverAddress ? ipToInt(config.boot.serverAddress) : undefined;
    // One answer to "what does this terminal boot?", consulted by DHCP, the HTTP boot server and the timeline.
    const policy = new ConfiguredBootPolicy({
      boot: config.boot,
      profiles: config.profiles,
      reservations: config.dhcp.reservations,
      // with DHCP off no boot reply is ever made, so an unset address is never handed out
      get serverAddress() {
        return bootServer ?? (dhcpOn ? serverId() : 0);
      },
      httpPort: config.http.port,
    });
    if (policy.bootsLocalDisk)
      log.warn({ defaultProfile: config.boot.defaultProfile }, 'no boot profiles configured: terminals are told to boot their local disk');
    const bootRoot = config.http.root ?? config.tftp.root;
    for (const m of missingProfileFiles(config.profiles, bootRoot)) log.warn({ profile: m.profile, file: m.file }, describeMissingFile(m, bootRoot));
    // The UI's live event stream: boot steps and committed leases are published where they happen, sessions in compose/ui.ts.
    const uiConfig = config.ui;
    const uiEvents = new UiEventBus(uiConfig.replayEvents, undefined, (e) => log.error({ err: e }, 'UI event listener failed'));
    const timeline = new BootTimeline({
      repo: boots,
      registry: this.registry,
      logger: log.child({ module: 'timeline' }),
      terminals,
      classifyFile: (mac, path) => policy.classifyFile(mac, path),
      onChange: (b) => {
        const e = bootEvent(b);
        if (e) uiEvents.publish('boot', e);
      },
    });
    this.timeline = timeline;
    // Admission control for the heavy boot phases (boot/admission.ts); the seat directory exists further down.
    let isPriority: (mac: string) => boolean = () => false;
    const admissionConfig = config.boot.admission;
    let wakePacer: WakePacer | undefined;
    const admission = admissionConfig.enabled
      ? new AdmissionQueue({
          config: admissionConfig,
          isPriority: (mac) => isPriority(mac),
          metrics: createAdmissionMetrics(this.registry),
          onEvent: (e) => {
            uiEvents.publish('queue', e);
            wakePacer?.onAdmissionEvent(e);
          },
        })
      : undefined;
    if (admission) {
      // Wake-on-LAN runs (the API's and the scheduled ones) go at the pace the queue admits terminals
      if (admissionConfig.paceWakeOnLan)
        wakePacer = new WakePacer({
          bound: () => admission.bound,
          counts: () => admission.counts(),
          pendingSeconds: admissionConfig.wakePendingSeconds,
        });
      let timer: NodeJS.Timeout | undefined;
      // frees a slot whose terminal died (timeout) and drops terminals that stopped polling, without traffic
      this.services.push({
        name: 'boot-admission',
        start: () => {
          timer = setInterval(() => admission.expire(), 1000);
          timer.unref();
        },
        stop: () => {
          clearInterval(timer);
          wakePacer?.stop();
        },
      });
    }
    const releaseOn = new Set(admissionConfig.releaseOn);

    if (dhcpOn) {
      const dhcp = new DhcpServer({
        config: config.dhcp,
        lanInterface: config.interfaces.lan,
        get serverId() {
          return serverId();
        },
        socketFactory: this.opts.socketFactory ?? interfaceSocketFactory,
        leases,
        policy,
        logger: log.child({ module: 'dhcp' }),
        metrics: createDhcpMetrics(this.registry),
        conflictProbe: pingProbe,
        durable,
        onBootDhcp: (e) => timeline.dhcp(e),
        onLeaseCommitted: (l) => {
          const e = leaseEvent(l);
          if (e) uiEvents.publish('lease', e);
        },
        onLeaseEnded: (l) => {
          const e = leaseEndEvent(l);
          if (e) uiEvents.publish('lease-end', e);
        },
      });
      this.dhcp = dhcp;
      this.services.push({ name: 'dhcp', lan: true, start: () => dhcp.start(), stop: () => dhcp.stop() });
      if (!this.opts.socketFactory) {
        const storm = config.dhcp.starvation.bridgeRateLimit;
        const bridgeGuard = new DhcpBridgeGuard(
          { lanInterface: config.interfaces.lan, ...storm },
          execNft(),
          log.child({ module: 'dhcp' }),
          this.registry,
        );
        this.services.push({ name: 'dhcp-storm-control', lan: true, start: () => bridgeGuard.start(), stop: () => bridgeGuard.stop() });
      }
    }
    const tftp = new TftpServer({
      config: config.tftp,
      lanInterface: config.interfaces.lan,
      socketFactory: this.opts.socketFactory ?? interfaceSocketFactory,
      logger: log,
      metrics: createTftpMetrics(this.registry),
      onFileServed: (clientIp, path) => timeline.fileServed(clientIp, path),
    });
    this.services.push({ name: 'tftp', lan: true, start: () => tftp.start(), stop: () => tftp.stop() });

    const overlays = new OverlayManager({ dataDir: config.dataDir, settings: config.iscsi, logger: log });
    this.overlays = overlays;
    const iscsi = new IscsiTarget({
      config: config.iscsi,
      logger: log,
      registry: this.registry,
      provider: new OverlayDeviceProvider({
        manager: overlays,
        // Isolation: a terminal's disk opens only from the address its MAC holds a lease for.
        ipForMac: (mac) => terminals.ipForMac(mac),
        macsForIp: (ip) => {
          const mac = terminals.macForIp(ip);
          return mac ? [mac] : [];
        },
        chap: (image) => config.iscsi.chap[image],
        onOpened: (_image, mac) => {
          if (releaseOn.has('iscsi-login')) admission?.release(mac, 'iscsi-login');
        },
      }),
    });
    if (Object.keys(config.iscsi.images).length > 0) {
      this.services.push({ name: 'overlays', start: () => overlays.start(), stop: () => overlays.stop() });
      this.services.push({ name: 'iscsi', lan: true, start: () => iscsi.start(), stop: () => iscsi.stop() });
    }
    const markOverlayBoot = (mac: Mac): void => {
      // A terminal fetching its script is rebooting: its discard overlay starts clean at its next iSCSI login.
      if (Object.keys(config.iscsi.images).length > 0) overlays.markBoot(mac);
    };

    // the platforms' /svc redirector and heartbeat share the terminal-facing port; filled in once identity exists
    let terminalRoutes: PlatformServices['terminalRoutes'] = [];
    const http = new HttpBootServer({
      config: { ...config.http, root: config.http.root ?? config.tftp.root },
      profiles: policy,
      logger: log.child({ module: 'http' }),
      metrics: createHttpMetrics(this.registry),
      iscsiPort: config.iscsi.port,
      onBootEvent: (e) => {
        if (e.kind === 'script' && e.mac) {
          markOverlayBoot(e.mac); // first: the discard reset must not depend on the timeline's bookkeeping
          timeline.scriptServed(e.mac);
        } else if (e.kind === 'booted' && e.mac) {
          if (releaseOn.has('booted')) admission?.release(e.mac, 'booted');
          timeline.booted(e.mac);
        } else if (e.kind === 'file' && e.path) timeline.fileServed(e.clientIp, e.path);
      },
      routes: () => terminalRoutes,
      ...(admission ? { admission } : {}),
    });
    this.services.push({ name: 'http', lan: true, start: () => http.start(), stop: () => http.stop() });

    const ra = config.ipv6.routerAdvertisements;
    if (ra.enabled) {
      const advertiser = new RouterAdvertiser(
        { interface: config.interfaces.lan, prefix: ra.prefix, intervalSeconds: ra.intervalSeconds },
        log.child({ module: 'ipv6-ra' }),
      );
      this.services.push({ name: 'ipv6-ra', lan: true, start: () => advertiser.start(), stop: () => advertiser.stop() });
    }
    // The audit writer thread commits the gateway's per-request records on its own connection (docs/audit.md);
    // registered before the audit log, so it starts first and stops after the log has handed it everything.
    const auditWriter = new AuditWriterThread(join(config.dataDir, 'bootgate.db'));
    this.services.push({ name: 'audit-writer', start: () => auditWriter.start(), stop: () => auditWriter.close() });
    const identity = createIdentityServices({
      db: this.db,
      auditWriter,
      dataDir: config.dataDir,
      logger: log,
      registry: this.registry,
      terminals,
      retentionDays: config.audit.retentionDays,
      durable,
    });
    this.services.push({ name: 'audit', start: () => identity.start(), stop: () => identity.stop() });
    /** a staff action as an admin audit record (the cache's purges, the overlay API's mode/reset/commit/rollback) */
    const recordAction = (actor: string, action: string, target: string, detail: unknown): Promise<void> =>
      identity.identity.recordAction(actor, action, target, detail);
    // A seat with an open cashier session goes ahead in the boot queue (there are no reservations in the model yet).
    isPriority = (mac) => {
      const m = tryParseMac(mac);
      return m !== undefined && identity.directory.lookupByMac(m)?.session !== undefined;
    };
    // A seat's class (its seat group) chooses its boot profile (after a reservation's) and its overlay bound.
    policy.setClassProfile((mac) => identity.directory.classOf(mac)?.profile ?? undefined);
    overlays.setLimitFor((mac) => identity.directory.classOf(mac)?.overlayLimitBytes ?? undefined);
    // Registered seats keep their addresses whatever an unknown client floods the pool with (issue 11).
    this.dhcp?.table.setKnownClients({
      isKnown: (hardwareAddress) => {
        const mac = tryParseMac(hardwareAddress);
        return mac !== undefined && identity.directory.lookupByMac(mac) !== undefined;
      },
      macs: () => identity.directory.macs(),
    });
    // classes in proxy mode are served by a reverse proxy on their own port, which terminals must reach
    const proxiedPlatforms = Object.values(config.platforms.classes).some((c) => c.mode === 'proxy');
    // the gateway's own address on the terminal LAN (portal URL, Wake-on-LAN source, the resolver, svc names)
    const gatewayLanAddress = (): string => config.boot.serverAddress ?? config.dhcp.serverId ?? lanAddress();
    let sharedGatewayMetrics: GatewayMetrics | undefined;
    const gatewayMetrics = (): GatewayMetrics => (sharedGatewayMetrics ??= createGatewayMetrics(this.registry));
    // a platform instance registered or removed after the gateway started: the nftables allow set follows
    let refreshPlatformHosts: (() => Promise<void>) | undefined;
    let cacheRouter: Router | undefined;
    /** the browser's cache routes (the cache/DNS screen): the same router with the UI session's guard */
    let uiCacheRouter: ((guard: RequestHandler) => Router) | undefined;
    const lanSubnets = [config.dhcp.subnet, ...config.dhcp.relaySubnets.map((r) => r.subnet)];
    // the edge cache (docs/cache.md) answers the gateway proxies' plain-HTTP GETs to cache domains, and — with
    // cache.dnsListener — the requests the resolver sends to its listener; it starts before both and stops after
    const dnsListener = config.cache.enabled ? config.cache.dnsListener : undefined;
    const destinations = config.gateway.enabled || dnsListener ? createDestinationPolicy(config.gateway, lanSubnets) : undefined;
    const edge =
      config.cache.enabled && destinations
        ? createCacheServices({
            config: config.cache,
            dataDir: config.dataDir,
            destinations,
            lookupTimeoutMs: config.gateway.connectTimeoutMs,
            guards: { read: identity.guard(['admin', 'auditor']), write: identity.guard(['admin']) },
            recordAction,
            logger: log,
            registry: this.registry,
          })
        : undefined;
    if (edge) {
      cacheRouter = edge.router;
      uiCacheRouter = (guard) =>
        createCacheRouter({ cache: edge.cache, guards: { read: guard, write: guard }, recordAction, log: log.child({ module: 'ui-v1' }) });
      this.services.push({ name: 'cache', start: () => edge.start(), stop: () => edge.stop() });
    }
    if (edge && dnsListener && destinations) {
      const listener = createCacheListener({
        listener: dnsListener,
        cache: edge.cache,
        destinations,
        directory: identity.directory,
        audit: identity.audit,
        metrics: gatewayMetrics(),
        timeouts: { connectTimeoutMs: config.gateway.connectTimeoutMs, idleTimeoutMs: config.gateway.idleTimeoutMs },
        logger: log,
      });
      this.services.push({ name: 'cache-listener', lan: true, start: () => listener.start(), stop: () => listener.stop() });
    }
    if (config.gateway.enabled && destinations) {
      // Registered after audit, so it stops first and its last records still commit.
      const gw = config.gateway;
      // built when it first starts: the portal's default URL needs the LAN address, known once the link is ready
      type Gateway = ReturnType<typeof createGatewayServices>;
      let gateway: Gateway | undefined;
      refreshPlatformHosts = async () => {
        await gateway
          ?.refreshAllowedDestinations()
          .catch((err: unknown) => log.error({ module: 'gateway', err }, 'allow-listed platform instances not updated'));
      };
      const buildGateway = (lanAddress: string): Gateway =>
        createGatewayServices({
          config: { ...gw, portal: { ...gw.portal, url: gw.portal.url ?? `http://${lanAddress}:${gw.portal.port}/` } },
          lanInterface: config.interfaces.lan,
          wanInterface: config.interfaces.wan,
          lanSubnet: config.dhcp.subnet,
          lanSubnets,
          destinations,
          cache: edge?.cache,
          // what terminals may reach on the gateway itself: DNS, DHCP, proxyDHCP, TFTP, HTTP boot, iSCSI (+ the proxy ports)
          lanServices: {
            tcp: [53, config.http.port, config.iscsi.port, ...(proxiedPlatforms ? [config.platforms.proxyPort] : [])],
            udp: [53, 67, 4011, config.tftp.port],
          },
          directory: identity.directory,
          audit: identity.audit,
          ipForMac: (mac) => terminals.ipForMac(mac),
          logger: log,
          registry: this.registry,
          metrics: gatewayMetrics(),
          platformHosts: () => platforms.registry.list().flatMap((i) => platformHost(i.url)),
        });
      this.services.push({
        name: 'gateway',
        lan: true,
        start: () => (gateway ??= buildGateway(gatewayLanAddress())).start(),
        stop: () => gateway?.stop(),
      });
    }
    // without the gateway, the edge cache is reached only through DNS
    if (config.cache.enabled && !config.gateway.enabled && !dnsListener)
      log.warn({ module: 'cache' }, 'cache.enabled without gateway.enabled or cache.dnsListener: the edge cache is not started');
    // Registered after audit, so it stops first and its last redirect records still commit.
    const lan = parseCidr(config.dhcp.subnet);
    const platforms = createPlatformServices({
      config: config.platforms,
      db: this.db,
      identity,
      lan: () => ({
        broadcast: intToIp(broadcastOf(lan)),
        address: gatewayLanAddress(),
      }),
      logger: log,
      registry: this.registry,
      reverseProxy: proxiedPlatforms ? { listen: config.http.listen, metrics: gatewayMetrics() } : undefined,
      // the set is rebuilt from the registry: a removed instance's address stays only if another instance has it
      onInstancesChanged: async () => {
        await refreshPlatformHosts?.();
      },
      ...(wakePacer ? { wakePace: (mac: string) => wakePacer.turn(mac) } : {}),
    });
    terminalRoutes = platforms.terminalRoutes;
    if (config.dns.enabled) {
      const dns = createDnsServices({
        config: config.dns,
        lanAddress: gatewayLanAddress,
        platforms: platforms.registry,
        configuredClasses: Object.keys(config.platforms.classes),
        seats: seatLookup(identity.directory),
        audit: identity.audit,
        cacheNames: edge && dnsListener ? { handles: (name) => edge.cache.handles(name), address: dnsListener.address } : undefined,
        logger: log,
        registry: this.registry,
      });
      // after audit: it stops first, so its last records still commit
      this.services.push({ name: 'dns', lan: true, start: () => dns.start(), stop: () => dns.stop() });
    }
    this.services.push({ name: 'platforms', lan: true, start: () => platforms.start(), stop: () => platforms.stop() });
    const hasImages = Object.keys(config.iscsi.images).length > 0;
    // the room tiles' overlay use and the growth behind the seat-class screen's disk-full forecast
    const overlayWatch = hasImages
      ? new OverlayWatch({
          overlays,
          limitFor: (mac) => identity.directory.classOf(mac)?.overlayLimitBytes ?? config.iscsi.overlays.limitBytes,
          publish: (data) => uiEvents.publish('overlay', data),
          sampleMs: uiConfig.systemSampleSeconds * 1000,
          logger: log.child({ module: 'ui' }),
        })
      : undefined;
    // what each image's sessions wrote back, for the recommended overlay size of a seat class (p95)
    const overlaySizes = new OverlaySizeRepository(this.db);
    overlays.onSessionEnd((e) => {
      try {
        overlaySizes.record({ ...e, recordedAt: Date.now() });
      } catch (err) {
        log.error({ err, image: e.image, mac: e.mac }, 'overlay size not recorded');
      }
    });
    const seatClassRouter = (guard: { read: RequestHandler; write: RequestHandler }): Router =>
      createSeatClassRouter({
        service: identity.identity,
        profiles: { names: () => policy.profileNames(), get: (n) => policy.profile(n), defaultName: config.boot.defaultProfile },
        defaultLimitBytes: config.iscsi.overlays.limitBytes,
        sizes: (image, limit) => overlaySizes.recent(image, limit),
        ...(overlayWatch ? { totals: () => overlayWatch.totalsOverTime() } : {}),
        overlayDir: config.dataDir,
        guard,
        logger: log.child({ module: 'api' }),
      });
    const ui = createUiServices({
      config: uiConfig,
      db: this.db,
      identity,
      leases,
      boots,
      bus: uiEvents,
      logger: log,
      ...(overlayWatch ? { overlayWatch } : {}),
      ...(admission ? { queue: () => admission.snapshot() } : {}),
      system: {
        registry: this.registry,
        services: () => this.services.map((s) => ({ name: s.name, lan: s.lan === true, running: this.started.includes(s) })),
        config,
        dataDir: config.dataDir,
        auditBacklog: () => identity.audit.backlog,
      },
      // the admin screens (images and overlays, platforms) call these routes; admin only in the browser
      v1Routers: (guard) => [
        ...(hasImages
          ? [createOverlayRouter(overlays, { read: guard(['admin']), write: guard(['admin']) }, log.child({ module: 'ui-v1' }), recordAction)]
          : []),
        platforms.adminRouter({ read: guard(['admin']), write: guard(['admin']) }),
        seatClassRouter({ read: guard(['admin']), write: guard(['admin']) }),
        // the cache/DNS screen: cache stats and purges, the resolver's counters (admin)
        ...(uiCacheRouter ? [uiCacheRouter(guard(['admin']))] : []),
        createDnsStatsRouter(this.registry, guard(['admin'])),
        // the terminal panel's Wake (Wake-on-LAN): the desk and the admin, as on /api/v1
        platforms.wakeRouter(guard(['admin', 'cashier'])),
      ],
    });
    this.services.push({ name: 'ui', start: () => ui.start(), stop: () => ui.stop() });
    const api = new ManagementServer({
      listen: config.api.listen,
      registry: this.registry,
      leases,
      boots,
      logger: log.child({ module: 'api' }),
      ...(this.dhcp ? { dhcpStarvation: () => this.dhcp!.starvationStatus() } : {}),
      routers: [
        ...(hasImages
          ? [
              createOverlayRouter(
                overlays,
                { read: identity.guard(['admin', 'auditor']), write: identity.guard(['admin']) },
                log.child({ module: 'api' }),
                recordAction,
              ),
            ]
          : []),
        // before the identity router: the heartbeat authenticates with the instance's token, not a staff one
        createBootQueueRouter(admission, identity.guard(['admin', 'cashier', 'auditor'])),
        seatClassRouter({ read: identity.guard(['admin']), write: identity.guard(['admin']) }),
        createDnsStatsRouter(this.registry, identity.guard(['admin', 'auditor'])),
        platforms.managementRouter,
        ...(cacheRouter ? [cacheRouter] : []),
        ui.staffApi,
        identity.router,
      ],
      ui: ui.router,
      readGuard: identity.guard(['admin', 'cashier', 'auditor']),
    });
    this.services.push({ name: 'api', start: () => api.start(), stop: () => api.stop() });
  }

  async start(): Promise<void> {
    const lanName = this.config.interfaces.lan;
    const watcher = new LinkWatcher({ ifname: lanName, role: 'lan', logger: this.opts.logger, metrics: createLinkMetrics(this.registry) });
    const link = await watcher.start();
    // a name that does not exist is a configuration error; one that is down, has no carrier or no address is waited for
    if (!link.exists) {
      watcher.stop();
      throw new BootgateError('INTERFACE_MISSING', `interfaces.lan = ${JSON.stringify(lanName)}: no such network interface`);
    }
    this.lan = watcher;
    this.build();
    const deferred: Service[] = [];
    try {
      // in order; while the LAN is not ready its services wait and the rest (the API first of all) start now
      for (const s of this.services) {
        if (s.lan && !linkReady(link)) deferred.push(s);
        else await this.startService(s, link);
      }
    } catch (e) {
      await this.stop();
      throw e;
    }
    watcher.onChange(() => this.onLanChange());
    // it may have come up while the others started
    this.onLanChange();
    this.opts.logger.info({ services: this.started.map((s) => s.name), waitingForLan: deferred.map((s) => s.name) }, 'bootgate started');
  }

  private async startService(s: Service, link: LinkState): Promise<void> {
    if (s.lan && !this.lanBinding) this.lanBinding = { ifindex: link.ifindex, address: link.ipv4[0]!, addressInt: ipToInt(link.ipv4[0]!) };
    await s.start();
    this.started.push(s);
  }

  /**
   * The LAN changed. Carrier loss and a device set down and up again leave the LAN services' sockets working
   * (tested: test/integration/lan-carrier.test.ts), so they run on. They start when the LAN is first ready, and
   * restart when it is ready again as another device (deleted and made again: its sockets were bound to the old
   * one) or with another primary address (listeners, the DHCP server id and the portal took the old one).
   */
  private onLanChange(): void {
    this.lanChanges = this.lanChanges.then(async () => {
      // the state now, not the one that was current when this change was queued
      const now = this.lan?.state;
      if (!now || !linkReady(now)) return;
      const running = this.started.filter((s) => s.lan);
      const b = this.lanBinding;
      if (running.length > 0 && b && b.ifindex === now.ifindex && b.address === now.ipv4[0]) return;
      const log = this.opts.logger;
      if (running.length > 0) {
        log.warn(
          { was: b, now: { ifindex: now.ifindex, address: now.ipv4[0] } },
          'interfaces.lan changed device or address: restarting the LAN services',
        );
        for (const s of running.reverse()) await this.stopService(s);
      }
      this.lanBinding = undefined;
      const waiting = this.services.filter((s) => s.lan);
      try {
        for (const s of waiting) await this.startService(s, now);
        log.info({ services: waiting.map((s) => s.name) }, 'LAN services started');
      } catch (err) {
        // the API stays up to show it; the next change of the LAN tries again
        log.error({ err }, 'LAN services failed to start');
        for (const s of this.started.filter((x) => x.lan).reverse()) await this.stopService(s);
      }
    });
  }

  private async stopService(s: Service): Promise<void> {
    this.started = this.started.filter((x) => x !== s);
    try {
      await s.stop();
    } catch (e) {
      this.opts.logger.error({ err: e, service: s.name }, 'service failed to stop cleanly');
    }
  }

  async stop(): Promise<void> {
    this.lan?.stop();
    this.lan = undefined;
    await this.lanChanges;
    for (const s of this.started.reverse()) {
      try {
        await s.stop();
      } catch (e) {
        this.opts.logger.error({ err: e, service: s.name }, 'service failed to stop cleanly');
      }
    }
    this.started = [];
    await this.wal?.close();
    this.wal = undefined;
    this.db?.close();
    this.db = undefined;
  }
}
