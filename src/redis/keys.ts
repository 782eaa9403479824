/**
 * Every Redis key the portal uses, built in this one place.
 * All keys share one hash tag ({prefix}) so they live in one Redis Cluster slot: the stores'
 * multi-key transactions stay legal there, and BullMQ (prefix `{prefix}:q`) follows the same rule.
 */
export type Keys = ReturnType<typeof createKeys>;

export function createKeys(prefix: string) {
  const p = `{${prefix}}`;
  return {
    /** Glob matching every key of this prefix (maintenance and test clean-up only: SCAN, never on a request path). */
    all: `${p}:*`,
    bullPrefix: `${p}:q`,

    challengeCooldown: (email: string, ip: string) => `${p}:challenge-cooldown:${email}:${ip}`,

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
