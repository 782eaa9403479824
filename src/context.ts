import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import type { Config } from './config.js';
import { contains, parseNetwork, type Address, type Network } from './domain/ip.js';
import { JobProducer } from './jobs/enqueue.js';
import type { Logger } from './logger.js';
import type { Policy } from './policy.js';
import { createKeys, type Keys } from './redis/keys.js';
import { AllowlistStore } from './stores/allowlist.js';
import { ApiTokenStore } from './stores/api-tokens.js';
import { AssignmentStore } from './stores/assignments.js';
import { AuditStore } from './stores/audit.js';
import { ListTableStore } from './stores/list-tables.js';
import { BlocklistStore } from './stores/blocklist.js';
import { ChallengeStore } from './stores/challenges.js';
import { DashboardStore } from './stores/dashboard.js';
import { ReportCounter } from './stores/report-counter.js';
import { ReportDraftStore } from './stores/report-drafts.js';
import { RequestStore } from './stores/requests.js';
import { RestrictionStore } from './stores/restrictions.js';
import { RoutingStore } from './stores/routing.js';
import { StaffStore } from './stores/staff.js';
import { TenantActivityStore } from './stores/tenant-activity.js';
import { TenantStore } from './stores/tenants.js';
import { TicketStore } from './stores/tickets.js';

/** Everything a use case may touch, built once per process (web, worker or CLI). */
export interface Context {
  config: Config;
  policy: Policy;
  redis: Redis;
  /** The system of record (PostgreSQL). Stores use it; features never touch it directly. */
  db: Kysely<Database>;
  keys: Keys;
  logger: Logger;
  routing: RoutingStore;
  blocklist: BlocklistStore;
  allowlist: AllowlistStore;
  assignments: AssignmentStore;
  restrictions: RestrictionStore;
  requests: RequestStore;
  challenges: ChallengeStore;
  reportDrafts: ReportDraftStore;
  tickets: TicketStore;
  apiTokens: ApiTokenStore;
  audit: AuditStore;
  /** The staff console's tables of the routing datasets and the tenant directory (src/stores/list-tables.ts). */
  listTables: ListTableStore;
  /** What the desk knows about one tenant: its tickets, reports per day, unblock requests (the tenant page). */
  tenantActivity: TenantActivityStore;
  staff: StaffStore;
  /** The tenant directory (src/stores/tenants.ts). */
  tenants: TenantStore;
  reportCounter: ReportCounter;
  /** The staff dashboard's figures (src/stores/dashboard.ts). */
  dashboard: DashboardStore;
  jobs: JobProducer;
  /** True when the address is inside one of our own outbound pools. */
  isOwnAddress(addr: Address): boolean;
}

export function createContext(config: Config, policy: Policy, redis: Redis, logger: Logger, db: Kysely<Database>): Context {
  const keys = createKeys(config.redisPrefix);
  const routing = new RoutingStore(db, policy.routing.feedMaxLength);
  const challenges = new ChallengeStore(db, redis, keys, config.secret);
  const ownNetworks: Network[] = Object.values(policy.network.pools).flat().map((cidr) => parseNetwork(cidr));
  return {
    config,
    policy,
    redis,
    db,
    keys,
    logger,
    routing,
    blocklist: new BlocklistStore(db, routing),
    allowlist: new AllowlistStore(db, routing),
    assignments: new AssignmentStore(db, routing),
    restrictions: new RestrictionStore(db, routing),
    requests: new RequestStore(db),
    challenges,
    reportDrafts: new ReportDraftStore(db),
    tickets: new TicketStore(db, policy.sla),
    apiTokens: new ApiTokenStore(db),
    audit: new AuditStore(db),
    listTables: new ListTableStore(db),
    tenantActivity: new TenantActivityStore(db),
    staff: new StaffStore(db, redis, keys, policy.staff.loginThrottle),
    tenants: new TenantStore(db),
    reportCounter: new ReportCounter(db, policy.abuse.windowHours),
    dashboard: new DashboardStore(db),
    jobs: new JobProducer(db, redis, keys),
    isOwnAddress: (addr) => ownNetworks.some((net) => contains(net, addr)),
  };
}
