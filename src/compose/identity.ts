import { join } from 'node:path';
import type express from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createIdentityApi, requireRoles } from '../api/identity-api.ts';
import { AuditLog, type AuditWriter } from '../audit/log.ts';
import { AuditSigner } from '../audit/keys.ts';
import { createAuditMetrics } from '../audit/metrics.ts';
import { AuditRepository } from '../store/audit-repository.ts';
import type { Db } from '../store/database.ts';
import { IdentityRepository } from '../store/identity-repository.ts';
import { ensureAdminToken } from '../identity/auth.ts';
import { SeatDirectory } from '../identity/seat-directory.ts';
import { IdentityService } from '../identity/service.ts';
import type { TerminalLocator } from '../terminal/client-address.ts';

export interface IdentityServicesDeps {
  db: Db;
  dataDir: string;
  logger: Logger;
  registry: Registry;
  /** where terminals are (the appliance's DHCP lease table) */
  terminals: Pick<TerminalLocator, 'macForIp'>;
  /** audit retention in days; 0 keeps everything */
  retentionDays?: number;
  clock?: () => number;
  /** the database's WalSync.sync when it does not sync inside COMMIT (see AuditLogDeps.durable) */
  durable?: () => Promise<void>;
  /** commits plain audit records off the event loop (see AuditLogDeps.writer) */
  auditWriter?: AuditWriter;
}

export interface IdentityServices {
  audit: AuditLog;
  auditRepo: AuditRepository;
  signer: AuditSigner;
  identity: IdentityService;
  identityRepo: IdentityRepository;
  directory: SeatDirectory;
  /** mount under /api/v1 on the management server */
  router: express.Router;
  /** authentication for routes outside the identity router (leases, terminals, images and overlays) */
  guard(roles: ReadonlyArray<'admin' | 'cashier' | 'auditor'>): express.RequestHandler;
  start(): void;
  /** commits queued audit records and waits until they are durable; call before closing the database */
  stop(): Promise<void>;
}

/**
 * Wiring (composition root, with appliance.ts): builds the identity and audit services on the appliance database: the signing key and the bootstrap admin token
 * (`<dataDir>/keys/`), the group-committing audit log, cashier operations, the seat directory and the API router.
 */
export function createIdentityServices(deps: IdentityServicesDeps): IdentityServices {
  const keysDir = join(deps.dataDir, 'keys');
  const signer = AuditSigner.loadOrCreate(keysDir);
  const auditRepo = new AuditRepository(deps.db);
  const identityRepo = new IdentityRepository(deps.db);
  ensureAdminToken(identityRepo, keysDir);
  const audit = new AuditLog({
    ...(deps.durable ? { durable: deps.durable } : {}),
    ...(deps.auditWriter ? { writer: deps.auditWriter } : {}),
    repo: auditRepo,
    signer,
    logger: deps.logger.child({ module: 'audit' }),
    metrics: createAuditMetrics(deps.registry),
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.retentionDays ? { retentionDays: deps.retentionDays } : {}),
  });
  const identity = new IdentityService({
    repo: identityRepo,
    audit,
    logger: deps.logger.child({ module: 'identity' }),
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const directory = new SeatDirectory({ repo: identityRepo, service: identity, terminals: deps.terminals });
  const router = createIdentityApi({
    service: identity,
    repo: identityRepo,
    auditRepo,
    signer,
    directory,
    logger: deps.logger.child({ module: 'identity-api' }),
  });
  return {
    audit,
    auditRepo,
    signer,
    identity,
    identityRepo,
    directory,
    router,
    guard: (roles) => requireRoles(identityRepo, roles),
    start: () => audit.start(),
    stop: async () => {
      directory.stop();
      await audit.stop();
    },
  };
}
