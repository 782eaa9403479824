/**
 * Every Redis key the portal uses, built in this one place.
 * All keys share one hash tag ({prefix}) so they live in one Redis Cluster slot: the routing publisher's
 * multi-key transactions stay legal there, and BullMQ (prefix `{prefix}:q`) follows the same rule.
 */
export type Keys = ReturnType<typeof createKeys>;

export function createKeys(prefix: string) {
  const p = `{${prefix}}`;
  return {
    /** Glob matching every key of this prefix (maintenance and test clean-up only: SCAN, never on a request path). */
    all: `${p}:*`,
    bullPrefix: `${p}:q`,
    /** Jobs to enqueue, written with the change that calls for them and relayed into BullMQ (src/jobs/outbox.ts). */
    jobOutbox: `${p}:job-outbox`,

    routingVersion: `${p}:routing:version`,
    routingFeed: `${p}:routing:feed`,
    /** The hash of one routing dataset (blocklist, exclusions, assignments, allowlist, restrictions). */
    dataset: (name: string) => `${p}:routing:${name}`,
    blocklist: `${p}:routing:blocklist`,
    exclusions: `${p}:routing:exclusions`,
    assignments: `${p}:routing:assignments`,
    listingHistory: (cidr: string) => `${p}:history:${cidr}`,
    /** Index of the self-service exclusions by address (a lex-ordered sorted set), to find those inside a range. */
    selfServiceExclusions: `${p}:self-exclusions`,

    request: (id: string) => `${p}:req:${id}`,
    requestEvents: (id: string) => `${p}:req:${id}:events`,
    requestsByTime: `${p}:req:by-time`,

    challenge: (tokenHash: string) => `${p}:challenge:${tokenHash}`,
    challengeCooldown: (email: string, ip: string) => `${p}:challenge-cooldown:${email}:${ip}`,

    selfDelists: (ip: string) => `${p}:self-delists:${ip}`,


    reportDraft: (id: string) => `${p}:report-draft:${id}`,
    requestSample: (id: string) => `${p}:req:${id}:sample`,
    dedupeMessageId: (tenant: string, messageIdHash: string) => `${p}:dedupe:msgid:${tenant}:${messageIdHash}`,
    dedupeSample: (tenant: string, sampleHash: string) => `${p}:dedupe:sample:${tenant}:${sampleHash}`,
    tenantReportWindow: (tenant: string) => `${p}:tenant-reports:${tenant}`,
    /** Trusted reports (partner or confirmed web reporter, tenant vouched for by our DKIM) are deduped and counted apart. */
    trustedDedupeMessageId: (tenant: string, messageIdHash: string) => `${p}:dedupe-trusted:msgid:${tenant}:${messageIdHash}`,
    trustedDedupeSample: (tenant: string, sampleHash: string) => `${p}:dedupe-trusted:sample:${tenant}:${sampleHash}`,
    trustedReportWindow: (tenant: string) => `${p}:tenant-reports-trusted:${tenant}`,
    trustedReporterWindow: (tenant: string) => `${p}:tenant-reporters-trusted:${tenant}`,

    /** Sign-in throttle per (account, client network): failures counted, and the wait before the next attempt. */
    staffLoginFailures: (email: string, client: string) => `${p}:staff:login-failures:${email}:${client}`,
    staffLoginWait: (email: string, client: string) => `${p}:staff:login-wait:${email}:${client}`,
    session: (sid: string) => `${p}:sess:${sid}`,

    rateLimit: (name: string) => `${p}:rl:${name}:`,
    /** Hourly counters of unauthenticated SMTP intake per client (messages, bytes): rate limits, kept beside the others. */
    smtpClientHour: (counter: string, client: string) => `${p}:rl:smtp-hour:${counter}:${client}`,
    outbox: `${p}:dev-outbox`,
  };
}
