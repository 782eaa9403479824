import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_FEEDBACK_WEIGHTS } from './domain/feedback-weight.js';
import { parseNetwork } from './domain/ip.js';

/**
 * Public mailbox providers (global, Korean, Taiwanese): their domains are shared by millions of unrelated people,
 * so a cap per domain would only let an attacker lock them all out (see challenge.sharedMailboxDomains).
 */
export const SHARED_MAILBOX_DOMAINS = [
  'gmail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.de', 'mail.com', 'yandex.ru', 'zoho.com',
  'naver.com', 'daum.net', 'hanmail.net', 'kakao.com', 'nate.com',
  'yahoo.com.tw', 'hotmail.com.tw', 'msa.hinet.net', 'gmail.com.tw', 'pchome.com.tw', 'qq.com', '163.com', '126.com',
];

const window = (what: string) =>
  z.object({
    max: z.number().int().positive().describe(`Requests allowed per window, ${what}.`),
    windowMinutes: z.number().positive().describe('Window length in minutes.'),
  });

/** A partner's client range: an address or a CIDR with its host bits clear. */
const isNetwork = (s: string) => {
  try {
    parseNetwork(s);
    return true;
  } catch {
    return false;
  }
};

/** The p= of a DKIM key record as mailauth reads it: a raw ed25519 key (32 bytes) or an RSA SubjectPublicKeyInfo. */
const isDkimPublicKey = (p: string) => {
  const der = Buffer.from(p.replace(/\s+/g, ''), 'base64');
  if (der.length === 32) return true;
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' }).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
};

const category = z.object({
  selfRemovable: z.boolean().describe('Whether the listed party may delist itself through the portal.'),
  dnsblAnswer: z.string().regex(/^127\.0\.0\.\d{1,3}$/).describe('A record the DNSBL answers for entries of this category.'),
  reason: z.string().min(1).max(300).describe('Public reason shown on the lookup and confirm pages.'),
});

/** The policy file's schema: every key documented here, validated at start-up. */
export const policySchema = z.object({
  $comment: z.string().optional(),
  challenge: z.object({
    ttlMinutes: z.number().int().min(1).max(1440).describe('How long an emailed confirmation link is valid.'),
    resendCooldownSeconds: z.number().int().min(0).describe('No second challenge mail for the same email and IP within this time.'),
    sharedMailboxDomains: z
      .array(z.string().regex(/^[a-z0-9.-]{1,253}$/))
      .max(1000)
      .default(SHARED_MAILBOX_DOMAINS)
      .describe(
        'Domains of public mailbox providers, where millions of unrelated people have an address: the per-recipient-domain cap (rateLimits.challengePerRecipientDomain) does not apply to them, so that nobody can use it up and lock out every user of the provider. The per-recipient cap still applies to each address.',
      ),
  }),
  selfDelist: z.object({
    maxPerWindow: z.number().int().min(0).describe('Self-delists allowed per IP within the window; beyond it a request goes to staff.'),
    windowDays: z.number().int().min(1).describe('Length of the self-delist window in days.'),
  }),
  relist: z.object({
    baseDays: z.number().positive().describe('Listing duration after 0 or 1 self-delists; it doubles with each further one (1, 1, 2, 4, 8 … days).'),
  }),
  categories: z.record(z.string().regex(/^[a-z][a-z0-9-]{1,30}$/), category).refine((c) => Object.keys(c).length > 0, 'at least one category'),
  blockWidth: z.object({
    ipv4MinPrefixWithoutAdmin: z.number().int().min(0).max(32).describe('IPv4 block entries wider than this prefix need the admin role.'),
    ipv6MinPrefixWithoutAdmin: z.number().int().min(0).max(128).describe('IPv6 block entries wider than this prefix need the admin role.'),
  }),
  rateLimits: z.object({
    delistPerClientIp: window('per client IP on POST /delist'),
    delistPerEmail: window('per email address on POST /delist'),
    delistPerTargetIp: window('per IP to delist on POST /delist'),
    confirmPerClientIp: window('per client IP on the confirmation link'),
    lookupPerClientIp: window('per client IP on /lookup'),
    reportPerClientIp: window('per client IP on POST /report'),
    reportPerEmail: window('per reporter email when a previewed report is sent'),
    apiCheckPerClientIp: window('per client IP on /api/v1/blocklist/check'),
    // Added with issue 13; defaults keep older policy files valid. Email limits count the address as normalised
    // (src/domain/email-address.ts: case, +tag, provider dot rules), after the form validated.
    statusPerClientIp: window('per client IP on /status/:id').default({ max: 120, windowMinutes: 1 }),
    unblockPerEmail: window('per email address on POST /unblock').default({ max: 5, windowMinutes: 60 }),
    reportDraftPerEmail: window('per reporter email on POST /report (a draft for the preview)').default({ max: 10, windowMinutes: 60 }),
    challengePerRecipient: window('per recipient address, challenge mails of every flow together (delist, unblock, report)').default({ max: 10, windowMinutes: 60 }),
    challengePerRecipientDomain: window('per recipient domain, challenge mails of every flow together (delist, unblock, report)').default({ max: 100, windowMinutes: 60 }),
    contactPerClientIp: window('per client IP on POST /contact (a form that did not validate does not count)').default({ max: 10, windowMinutes: 10 }),
    contactPerEmail: window('per email address on POST /contact').default({ max: 5, windowMinutes: 60 }),
    bouncePerClientIp: window('per client IP on POST /bounce (a pasted bounce message read; an empty form does not count)').default({ max: 30, windowMinutes: 10 }),
  }),
  routing: z.object({
    feedMaxLength: z.number().int().min(100).describe('Change-feed entries kept; older versions answer 410 and clients re-read the snapshot.'),
  }),
  samples: z.object({
    maxBytes: z.number().int().positive().describe('Largest abuse sample accepted.'),
    maxMimeDepth: z.number().int().min(1).describe('Deepest MIME nesting accepted in a sample.'),
    maxHeaderBytes: z.number().int().positive().default(2097152).describe('Largest header block (of the message, a MIME part, an attached message or an ARF report) read from a sample, in bytes.'),
    maxHeaderFields: z.number().int().positive().default(20000).describe('Most fields in one header block of a sample.'),
    maxLineLength: z.number().int().positive().default(65536).describe('Longest header line, and longest header field once unfolded, in bytes.'),
    maxAddressesPerField: z.number().int().positive().default(100).describe('Most addresses in the From: field of a sample.'),
    maxMimeParts: z.number().int().positive().default(5000).describe('Most MIME parts (all levels together) in a sample.'),
    maxNestedMessages: z.number().int().positive().default(50).describe('Most attached messages (message/rfc822 parts, all levels together) in a sample.'),
    parseBudgetMs: z.number().int().min(50).max(60000).default(2000).describe('Wall-clock time one sample may take to parse in the parser pool (counted from when a parser thread starts on it, not while it waits); over it the thread is ended and the sample refused (422 SampleTooComplex, SMTP 554).'),
    maxPartnerDkimBodyBytes: z.number().int().min(1024).default(1048576).describe('Largest report body (bytes after its header block) whose DKIM signature is verified to recognise a partner (partners[].dkimDomains); a larger report is not verified, so it is untrusted. The worker verifies on the parser pool within parseBudgetMs.'),
    retentionDays: z.number().int().min(1).max(3650).default(180).describe('Days a report\'s raw sample is kept as evidence (compressed, in the evidence table); the report\'s metadata stays.'),
  }),
  abuse: z.object({
    windowHours: z.number().positive().describe('Sliding window in which distinct reports against a tenant are counted.'),
    highRiskThreshold: z.number().int().positive().describe('Distinct reports in the window that move a tenant to the high-risk pool.'),
    highRiskHours: z.number().positive().describe('How long such an automatic assignment lasts.'),
    criticalThreshold: z.number().int().positive().describe('Distinct reports in the window that open a critical ticket.'),
    intakeRecipients: z.array(z.email()).min(1).describe('Addresses the SMTP intake (ABUSE_SMTP_PORT) accepts ARF reports for; other recipients get 550.'),
    smtp: z
      .object({
        maxClients: z.number().int().min(1).max(10_000).default(50).describe('Connections the SMTP intake holds at once, all clients together; more are answered 421.'),
        maxConnectionsPerIp: z.number().int().min(1).default(5).describe('Connections one client IP (IPv6: one /64) may hold at once; more are answered 421.'),
        idleTimeoutSeconds: z.number().int().min(1).max(600).default(60).describe('A connection that sends nothing for this long is closed (421).'),
        sessionSeconds: z.number().int().min(1).max(3600).default(300).describe('Absolute lifetime of a connection, however active it is, so a slow client cannot hold a slot forever.'),
        maxRecipients: z.number().int().min(1).max(1000).default(10).describe('RCPT commands per transaction; more are answered 452 4.5.3.'),
        maxConcurrentMessages: z.number().int().min(1).max(1000).default(10).describe('Reports from unauthenticated senders received and parsed at once (each up to samples.maxBytes in memory); one more is answered 451 4.3.2 and its bytes dropped. Authenticated partners are not counted.'),
        authFailuresPerIp: window('failed SMTP AUTH attempts per client IP; beyond it AUTH is answered 421 without checking the password').default({ max: 5, windowMinutes: 15 }),
        messagesPerIpPerHour: z.number().int().min(1).max(100_000).default(30).describe('Reports one client IP (IPv6: one /64) may send per hour without being a partner; more are answered 450 4.7.1. Counted in Redis, shared by every intake process.'),
        bytesPerIpPerHour: z.number().int().min(1).default(50 * 1024 * 1024).describe('Bytes of reports one client IP (IPv6: one /64) may send per hour without being a partner; past it MAIL FROM (and a message that goes over it, after DATA) is answered 450 4.7.1.'),
        reservedForPartners: z.number().int().min(0).max(10_000).default(10).describe('Connections of maxClients kept for partners recognised by client IP: other clients hold at most maxClients minus this many. Partners by client IP are not held to maxConnectionsPerIp.'),
      })
      .refine((s) => s.reservedForPartners < s.maxClients, { path: ['reservedForPartners'], message: 'must be less than maxClients (other clients need at least one connection)' })
      .prefault({})
      .describe('Limits of the SMTP intake (npm run start:smtp).'),
    publicMailProviders: z
      .array(z.string().min(3).max(253).transform((d) => d.toLowerCase().replace(/\.$/, '')))
      .default(['gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'gmx.de', 'web.de', 'mail.ru', 'yandex.ru', 'naver.com', 'daum.net', 'qq.com', '163.com', 'proton.me', 'protonmail.com'])
      .describe('Large public mailbox providers: each confirmed web reporter with an address there counts as one reporter (mailbox normalised); any other email domain counts as one reporter for all its addresses (by its registrable domain), so one attacker domain cannot make many reporters.'),
    feedbackWeights: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a feedback type in lower case'), z.union([z.literal(0), z.literal(1)]))
      .default({ ...DEFAULT_FEEDBACK_WEIGHTS })
      .describe('How each feedback type (ARF Feedback-Type, X-ARF Report-Type/Category, lower case) counts toward escalation: 1 counts, 0 is recorded and shown to staff but never moves a pool. A report without a type weighs as "abuse"; a type not listed weighs as "other". See src/domain/feedback-weight.ts.'),
  }),
  staff: z.object({
    loginThrottle: z
      .object({
        freeFailures: z.number().int().min(1).max(100).default(5).describe('Failed sign-ins one client may make for one account before it has to wait.'),
        baseDelaySeconds: z.number().min(0.01).max(3600).default(1).describe('Wait after the last free failure; it doubles with each further failure.'),
        maxDelaySeconds: z.number().min(0.01).max(86_400).default(300).describe('The longest wait between two attempts of one client for one account.'),
        forgetAfterHours: z.number().positive().max(24 * 30).default(24).describe('Failures of a client for an account are forgotten after this long without one.'),
      })
      .prefault({})
      .describe('Sign-in throttle per (account, client IP): growing waits for the failing client instead of locking the account for everyone.'),
    loginPerClientIp: window('per client IP on POST /staff/login'),
    sessionHours: z.number().positive().describe('Staff session idle timeout: a session unused this long ends.'),
    sessionAbsoluteHours: z.number().positive().default(12).describe('A staff session ends this long after sign-in, even while used.'),
  }),
  sla: z
    .object({
      'delist-review': z.number().positive(),
      'abuse-case': z.number().positive(),
      'abuse-case-critical': z.number().positive(),
      'tenant-unblock': z.number().positive(),
      contact: z.number().positive().default(48),
    })
    .describe('Hours staff have to act on each kind of ticket (the triage queue sorts by this due time).'),
  allowlist: z.object({
    maxEntries: z.number().int().min(1).describe('The allow list never holds more entries than this.'),
    ipv4MaxWidthWithoutAdmin: z.number().int().min(0).max(32).describe('IPv4 allow entries wider than this prefix need the admin role.'),
    ipv6MaxWidthWithoutAdmin: z.number().int().min(0).max(128).describe('IPv6 allow entries wider than this prefix need the admin role.'),
    reviewDays: z.number().int().min(1).describe('Default review date of a new allow entry, in days.'),
    refusedRanges: z.array(z.string()).describe('Consumer or shared-infrastructure ranges never allowed (any overlap is refused).'),
  }),
  unblock: z.object({
    probationDays: z.number().int().min(1).describe('After an approved tenant unblock, the restriction stays as "probation" this long.'),
  }),
  network: z.object({
    pools: z.record(z.enum(['normal', 'high-risk', 'relay']), z.array(z.string().min(2))).describe('Our outbound pools and their CIDRs.'),
    hostSuffix: z.string().startsWith('.').describe('Host name suffix of our outbound servers.'),
    tenantHeader: z.string().min(1).describe('Header in which our MTAs stamp the tenant id.'),
    dkimKeys: z
      .array(
        z.object({
          domain: z.string().min(1).max(253).describe('d= of our outbound DKIM signatures.'),
          selector: z.string().min(1).max(63).describe('s= of the key.'),
          publicKey: z.string().min(16).refine(isDkimPublicKey, 'not a DKIM public key (base64 of an RSA SubjectPublicKeyInfo, or of a raw 32-byte ed25519 key)').describe('The public key as published in DNS (the p= value, base64 of the SubjectPublicKeyInfo), so no DNS lookup is needed.'),
        }),
      )
      .default([])
      .describe('Our outbound DKIM signing keys. A report whose original carries a signature by one of them that verifies and covers the tenant header proves which tenant we sent it for.'),
  }),
  partners: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/).describe('Name shown to staff, e.g. "Yahoo FBL".'),
        smtpAuth: z
          .object({
            username: z.string().min(1).max(128),
            passwordHash: z.string().startsWith('scrypt$').describe('scrypt hash as made by src/domain/passwords.ts (`npx postmaster hash-password`).'),
          })
          .optional()
          .describe('SMTP AUTH credentials the partner uses on the abuse intake.'),
        clientIps: z.array(z.string().min(2).refine(isNetwork, 'not an IP address or CIDR range')).default([]).describe('Address ranges the partner sends its reports from (SMTP intake or API).'),
        dkimDomains: z.array(z.string().min(1).max(253)).default([]).describe('A report carrying a verifying DKIM signature of one of these domains comes from the partner.'),
        apiTokens: z.array(z.string().min(1).max(100)).default([]).describe('Names of API tokens issued to the partner.'),
      }),
    )
    .default([])
    .describe('Feedback-loop partners: only their reports (and web reports whose reporter confirmed by email) may move a customer automatically.'),
});

export type Policy = z.infer<typeof policySchema>;
export type CategoryName = string;

export const DEFAULT_POLICY_FILE = fileURLToPath(new URL('./policy.json', import.meta.url));

export class PolicyError extends Error {
  readonly code = 'POLICY_INVALID';
}

/** Reads and validates a policy file; throws PolicyError naming every bad key. */
export function loadPolicy(file: string = DEFAULT_POLICY_FILE): Policy {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PolicyError(`Cannot read policy file ${file}:\n  POLICY_FILE: ${err instanceof SyntaxError ? 'not JSON: ' : ''}${(err as Error).message}`);
  }
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new PolicyError(`Invalid policy file ${file}:\n${lines.join('\n')}`);
  }
  // Ranges are read at start-up (our pools) or on a staff request (refused allow ranges): refuse a bad one here.
  const ranges = [...Object.entries(parsed.data.network.pools).flatMap(([pool, cidrs]) => cidrs.map((c, i) => [`network.pools.${pool}.${i}`, c])), ...parsed.data.allowlist.refusedRanges.map((c, i) => [`allowlist.refusedRanges.${i}`, c])];
  const badRanges = ranges.filter(([, cidr]) => {
    try {
      parseNetwork(cidr!);
      return false;
    } catch {
      return true;
    }
  });
  if (badRanges.length) throw new PolicyError(`Invalid policy file ${file}:\n${badRanges.map(([key, cidr]) => `  ${key}: ${JSON.stringify(cidr)} is not an IP address or CIDR range with its host bits clear`).join('\n')}`);
  return parsed.data;
}
