import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { countingAddress } from '../domain/email-address.js';
import { intentFields, type JobIntent } from '../jobs/outbox.js';
import type { PortalRequest, RequestEvent } from './requests.js';

/** One public rate limit: the counter's key and its window (fixed windows, as express-rate-limit counts them). */
export interface Hit {
  key: string;
  max: number;
  windowMs: number;
}

export type IntakeOutcome =
  | { status: 'created' }
  | { status: 'cooldown' }
  /** `limit` is the index of the hit whose window is full; `resetMs` is how long until it resets. */
  | { status: 'limited'; limit: number; resetMs: number };

/**
 * A batch of intake items, in arrival order, in one script run (see DelistIntake). For each item: counts its hits
 * in order and stops at the first full window (later counters are not touched, as with a chain of
 * express-rate-limit middlewares). Then, if the item has a request to create: the resend cool-down (SET NX EX),
 * and the request, its first event, its index entry and the job outbox entry of its challenge mail, all at once.
 * The challenge itself is made by the worker that mails it (ChallengeStore.ensure): nobody has its token before.
 *
 * KEYS: every key the batch's items use, each once (the by-time index, the job outbox and a busy client's counter
 * are shared by many items). ARGV[1]: a JSON array with one array per item (positional: cheaper for cjson than
 * objects): [1] the indexes in KEYS of its hit keys (n), then, with a request: cool-down, request, events, by-time,
 * job outbox; [2] limits, (max, windowMs) × n; and to create a request, [3] cool-down seconds, [4] the request's
 * fields and values, [5] its first event (JSON), [6] createdAtMs, [7] request id, [8] the outbox entry's fields.
 * Times travel as strings (Lua prints big numbers in %.14g). One argument: the client's cost grows with the
 * number of arguments.
 * Returns one {status, limit index, ms to reset} per item. Each item runs under `pcall`: one that fails (a key of the
 * wrong type, say) answers {'error', 0, 0, message} and the others go on, as if each had been a script of its own.
 */
const INTAKE = `
local function intake(a)
  local key = a[1]
  local limits = a[2]
  local n = #limits / 2
  for i = 1, n do
    local max = limits[2 * i - 1]
    local window = limits[2 * i]
    local counter = KEYS[key[i]]
    local hits = redis.call('INCR', counter)
    if hits == 1 then redis.call('PEXPIRE', counter, window) end
    if hits > max then
      local ttl = redis.call('PTTL', counter)
      if ttl < 0 then
        redis.call('PEXPIRE', counter, window)
        ttl = window
      end
      return {'limited', i - 1, ttl}
    end
  end
  if #a == 2 then return {'counted', 0, 0} end
  local cooldown = a[3]
  if cooldown > 0 and not redis.call('SET', KEYS[key[n + 1]], '1', 'EX', cooldown, 'NX') then return {'cooldown', 0, 0} end
  local requestId = a[7]
  redis.call('HSET', KEYS[key[n + 2]], unpack(a[4]))
  redis.call('RPUSH', KEYS[key[n + 3]], a[5])
  redis.call('ZADD', KEYS[key[n + 4]], a[6], requestId)
  redis.call('XADD', KEYS[key[n + 5]], '*', unpack(a[8]))
  return {'created', 0, 0}
end

local items = cjson.decode(ARGV[1])
local replies = {}
for j = 1, #items do
  local ok, reply = pcall(intake, items[j])
  if not ok then
    reply = {'error', 0, 0, type(reply) == 'table' and reply.err or tostring(reply)}
  end
  replies[j] = reply
end
return replies
`;

/** The script's command name; the web role's connection leaves it out of auto-pipelining (redis/connection.ts). */
export const INTAKE_COMMAND = 'pmDelistIntake';

type IntakeReply = [status: string, limit: number, resetMs: number, error?: string];

/**
 * The public delist submission in one Redis round trip: its three rate limits, the resend cool-down, the
 * request, and its challenge mail's job (through the job outbox; that worker makes the challenge). It replaces three
 * rate-limit scripts, a SET, a MULTI and a BullMQ add: on the busiest public form that more than halved the
 * web role's CPU per request (see README, load bench).
 *
 * Submissions are group-committed: those that arrive in the same turn of the event loop go to Redis as one
 * script run (flushed by `setImmediate`, after the turn's I/O callbacks), in arrival order, each with its own
 * outcome. Under load that is one command for several submissions instead of one each: ioredis's cost is per
 * command and per argument. A batch waits for nothing but the end of the turn it arrived in. If the run fails
 * (Redis down), every submission of the batch fails with that error, as each would have alone; a submission whose
 * own step fails inside the run fails alone (the script runs each under `pcall`).
 */
export class DelistIntake {
  private readonly cooldownSeconds: number;
  private pending: Array<{ keys: string[]; item: unknown[]; resolve(reply: IntakeReply): void; reject(err: unknown): void }> = [];

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    challenge: { resendCooldownSeconds: number },
  ) {
    if (!(INTAKE_COMMAND in redis)) redis.defineCommand(INTAKE_COMMAND, { lua: INTAKE });
    this.cooldownSeconds = challenge.resendCooldownSeconds;
  }

  /** Queues one item (its fields after the key indexes, see INTAKE) for this turn's batch; the first item of a turn schedules the flush. */
  private run(keys: string[], item: unknown[]): Promise<IntakeReply> {
    return new Promise((resolve, reject) => {
      if (this.pending.push({ keys, item, resolve, reject }) === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    // Each key goes once into KEYS; an item names its keys by their indexes there (Lua counts from 1).
    const keys: string[] = [];
    const index = new Map<string, number>();
    const items = batch.map((b) => {
      const refs = b.keys.map((key) => {
        let i = index.get(key);
        if (i === undefined) index.set(key, (i = keys.push(key)));
        return i;
      });
      return [refs, ...b.item];
    });
    (this.redis as unknown as Record<string, (numKeys: number, ...a: string[]) => Promise<IntakeReply[]>>)
      [INTAKE_COMMAND]!(keys.length, ...keys, JSON.stringify(items))
      .then(
        (replies) =>
          batch.forEach((b, i) => {
            const reply = replies[i]!;
            if (reply[0] === 'error') b.reject(new Error(`delist intake: ${reply[3]}`));
            else b.resolve(reply);
          }),
        (err: unknown) => batch.forEach((b) => b.reject(err)),
      );
  }

  /** Counts hits only (a form that did not validate still counts against its sender's address). */
  async count(hits: Hit[]): Promise<IntakeOutcome> {
    const { keys, limits } = split(hits);
    const [status, limit, resetMs] = await this.run(keys, [limits]);
    return status === 'limited' ? { status, limit: Number(limit), resetMs: Number(resetMs) } : { status: 'created' };
  }

  /**
   * Counts hits, then creates the request (made at `nowMs`) and its challenge mail's job unless a cool-down for this
   * email (as counted: src/domain/email-address.ts) and IP is running.
   */
  async submit(hits: Hit[], request: PortalRequest, event: RequestEvent, nowMs: number, mail: JobIntent): Promise<IntakeOutcome> {
    const { keys, limits } = split(hits);
    keys.push(
      this.keys.challengeCooldown(countingAddress(request.email), request.ip),
      this.keys.request(request.id),
      this.keys.requestEvents(request.id),
      this.keys.requestsByTime,
      this.keys.jobOutbox,
    );
    const fields: string[] = [];
    for (const k in request) {
      const v = request[k as keyof PortalRequest];
      if (v !== undefined) fields.push(k, String(v));
    }
    const [status, limit, resetMs] = await this.run(keys, [
      limits,
      this.cooldownSeconds,
      fields,
      JSON.stringify(event),
      String(nowMs),
      request.id,
      intentFields(mail),
    ]);
    if (status === 'limited') return { status, limit: Number(limit), resetMs: Number(resetMs) };
    return status === 'cooldown' ? { status } : { status: 'created' };
  }
}

/** The hits' counter keys, and their (max, windowMs) pairs in the same order. */
function split(hits: Hit[]): { keys: string[]; limits: number[] } {
  const keys: string[] = [];
  const limits: number[] = [];
  for (const h of hits) keys.push(h.key), limits.push(h.max, h.windowMs);
  return { keys, limits };
}
