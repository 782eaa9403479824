import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface CountInput {
  /** The report's request (its facts, as taken at intake, fill the `reports` row). */
  reportId: string;
  messageId: string | null;
  sampleHash: string;
  /** Who counts as one reporter (partner name, normalised confirmed email) when the report is trusted; null when not. */
  reporterId: string | null;
  /** Why it is trusted, or not (shown to staff). */
  trustReason?: string;
  /** Our customer as the tenant directory found it, and how ("feedback-id: Feedback-ID part …"); else the request's claim. */
  tenant?: string | null;
  tenantProof?: string | null;
  /**
   * The case (ticket id) the report is evidence of: the same statement attaches it there (a duplicate attaches the
   * report it duplicates), so recording, attaching and counting are one round trip.
   */
  caseTicketId?: string;
}

/** The advisory lock that orders the reports of one case (held until the transaction ends). */
export const caseLockName = (caseKey: string) => `report-case:${caseKey}`;

export interface WindowCounts {
  /** What drives escalation: distinct trusted reporters, each with a distinct message (the smaller of the two). */
  trusted: number;
  /** Distinct messages among trusted reports in the window. */
  trustedMessages: number;
  /** Distinct trusted reporters in the window. */
  trustedReporters: number;
  /** Distinct messages among untrusted reports in the window (kept as evidence, never escalated on). */
  untrusted: number;
}

export interface CountResult extends WindowCounts {
  /** False when the same Message-ID or the same sample was already counted for this case in the same trust class. */
  distinct: boolean;
  /** The report this one duplicates (itself when distinct). */
  canonicalId: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
/** The sample's SHA-256 as bytes (a hash that is not hex SHA-256 is itself hashed, so it still keys exactly). */
const sampleBytes = (h: string) => (/^[0-9a-f]{64}$/i.test(h) ? Buffer.from(h, 'hex') : sha256(h));
/** Message-IDs compare without their angle brackets and case. */
export const messageIdHash = (id: string) => sha256(id.trim().replace(/^<|>$/g, '').toLowerCase());

/** The window's counts over rows of `reports` (the table, or the table and a report being inserted). */
const COUNTS = sql`count(DISTINCT reporter_key) FILTER (WHERE trusted)::int AS reporters,
  count(DISTINCT coalesce(duplicate_of, request_id)) FILTER (WHERE trusted)::int AS trusted_messages,
  count(DISTINCT coalesce(duplicate_of, request_id)) FILTER (WHERE NOT trusted)::int AS untrusted`;
type CountRow = { reporters: number; trusted_messages: number; untrusted: number };
const countsOf = (r: CountRow): WindowCounts => ({ trusted: Math.min(r.reporters, r.trusted_messages), trustedMessages: r.trusted_messages, trustedReporters: r.reporters, untrusted: r.untrusted });

/**
 * Records each abuse report once (a `reports` row) and counts its case's sliding window, as queries over the reports
 * table. Per trust class (trusted, untrusted: an untrusted copy never makes a trusted report a duplicate), a report
 * is a duplicate when its Message-ID or its sample was seen in its case and class (within seven windows); a
 * duplicate counts its message once (it keeps the original's message in the window) but a trusted duplicate's
 * reporter still counts as a reporter. Running it again for the same report changes nothing: the row exists.
 * Reports of one case are recorded one at a time (a transaction-scoped advisory lock on the case), so two reports
 * of the same message racing each other still make one distinct report.
 */
export class ReportCounter {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly windowHours: number,
  ) {}

  private get windowMs(): number {
    return this.windowHours * 3_600_000;
  }

  /** Records and counts one report in a transaction of its own (see countIn). */
  async count(caseKey: string, input: CountInput, now = new Date()): Promise<CountResult> {
    return this.db.transaction().execute((trx) => this.countIn(trx, caseKey, input, now));
  }

  /**
   * Records one report and counts its case's window, in `trx` (a transaction: the case's advisory lock is held until
   * it ends). Two statements: the lock (unless `opts.locked`: the caller took it, see TicketStore.lockedCaseIn), then
   * one that inserts the report's row (with the original it duplicates, if any: its case and class, same Message-ID
   * or sample, within seven windows), attaches it to `input.caseTicketId` when given, and counts the window with that
   * row in it. A rerun finds the row already there and reads it.
   */
  async countIn(trx: Kysely<Database>, caseKey: string, input: CountInput, now = new Date(), opts: { /** The caller took caseLockName(caseKey) in `trx` already. */ locked?: boolean } = {}): Promise<CountResult> {
    const trusted = input.reporterId !== null;
    if (!opts.locked) await sql`SELECT pg_advisory_xact_lock(hashtext(${caseLockName(caseKey)}))`.execute(trx);
    const msgHash = input.messageId ? messageIdHash(input.messageId) : null;
    const sample = sampleBytes(input.sampleHash);
    const since = new Date(now.getTime() - 7 * this.windowMs);
    // The statement's snapshot is taken after the lock, so it sees every report of the case committed before; the
    // new row is not in that snapshot (nor is it in `reports` for the other parts of the statement), so the window
    // is the case's rows plus `inserted`, and the report is `inserted`'s row or, on a rerun, the stored one.
    const { rows } = await sql<CountRow & { found: number; duplicate_of: string | null }>`
      WITH inserted AS (
        INSERT INTO reports (request_id, channel, reporter, reporter_key, category, received_at, source_ip, tenant, tenant_proof, case_key, mail_from,
                             header_from, message_id, message_id_hash, sample_sha256, feedback_type, trusted, trust_reason, duplicate_of, summary)
        SELECT id, coalesce(channel, 'web'), coalesce(reporter, email, ''), ${input.reporterId ?? sql`coalesce(reporter, email, '')`}, coalesce(category, 'abuse'),
               ${now}, ip, ${input.tenant !== undefined ? input.tenant : sql`tenant`}, ${input.tenantProof ?? null}, ${caseKey}, parsed->>'mailFrom', parsed->>'from', ${input.messageId}, ${msgHash}, ${sample},
               parsed->>'feedbackType', ${trusted}, ${input.trustReason ?? null},
               (SELECT o.request_id FROM reports o
                 WHERE o.case_key = ${caseKey} AND o.trusted = ${trusted} AND o.duplicate_of IS NULL AND o.received_at > ${since}
                   AND (o.sample_sha256 = ${sample} ${msgHash ? sql`OR o.message_id_hash = ${msgHash}` : sql``})
                 ORDER BY o.received_at, o.request_id LIMIT 1),
               coalesce(parsed, '{}'::jsonb)
          FROM requests WHERE id = ${input.reportId} AND ip IS NOT NULL
        ON CONFLICT (request_id) DO NOTHING
        RETURNING request_id, duplicate_of, trusted, reporter_key
      ), report AS (
        SELECT duplicate_of FROM inserted
        UNION ALL
        SELECT duplicate_of FROM reports WHERE request_id = ${input.reportId}
      )${input.caseTicketId ? sql`, attached AS (
        INSERT INTO ticket_reports (ticket_id, report_id, attached_at)
        SELECT ${input.caseTicketId}, coalesce(duplicate_of, ${input.reportId}), ${now} FROM report
        ON CONFLICT DO NOTHING
      )` : sql``}, windowed AS (
        SELECT request_id, duplicate_of, trusted, reporter_key FROM reports WHERE case_key = ${caseKey} AND received_at > ${this.windowStart(now)}
        UNION ALL
        SELECT request_id, duplicate_of, trusted, reporter_key FROM inserted
      )
      SELECT (SELECT count(*) FROM report)::int AS found, (SELECT duplicate_of FROM report LIMIT 1) AS duplicate_of, ${COUNTS}
        FROM windowed`.execute(trx);
    const row = rows[0]!;
    if (!row.found) throw new Error(`report ${input.reportId} has no request with a source address`);
    const canonicalId = row.duplicate_of ?? input.reportId;
    return { distinct: canonicalId === input.reportId, canonicalId, ...countsOf(row) };
  }

  /** The case's counts in the window now, without counting anything (for staff pages). */
  /** Reports whose mail left us from this address, newest first, up to `limit` (the staff address page). */
  async fromSource(ip: string, limit = 50): Promise<Array<{ id: string; receivedAt: string; tenant: string | null; feedbackType: string | null; trusted: boolean; duplicateOf: string | null }>> {
    const rows = await this.db
      .selectFrom('reports')
      .select(['request_id', 'received_at', 'tenant', 'feedback_type', 'trusted', 'duplicate_of'])
      .where('source_ip', '=', ip)
      .orderBy('received_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: r.request_id, receivedAt: r.received_at.toISOString(), tenant: r.tenant, feedbackType: r.feedback_type, trusted: r.trusted, duplicateOf: r.duplicate_of }));
  }

  async peek(caseKey: string, now = new Date()): Promise<WindowCounts> {
    return this.counts(this.db, caseKey, now);
  }

  private windowStart(now: Date): Date {
    return new Date(now.getTime() - this.windowMs);
  }

  private async counts(db: Kysely<Database>, caseKey: string, now: Date): Promise<WindowCounts> {
    const { rows } = await sql<CountRow>`SELECT ${COUNTS} FROM reports WHERE case_key = ${caseKey} AND received_at > ${this.windowStart(now)}`.execute(db);
    return countsOf(rows[0]!);
  }
}
