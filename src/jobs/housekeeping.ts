import type { Context } from '../context.js';

/** How long a used or expired challenge is kept, so a late click gets "used"/"expired" rather than "unknown". */
export const CHALLENGE_KEEP_DAYS = 7;
const DAY_MS = 86_400_000;

/**
 * The records' retention, enforced by the worker (docs/architecture.md): report samples past their retention date
 * (the policy's samples.retentionDays; the report's metadata stays), report drafts past their hour, and challenges
 * expired more than CHALLENGE_KEEP_DAYS ago. Each is one DELETE by an indexed time; running it twice changes nothing.
 */
export async function enforceRetention(ctx: Context, now = new Date()): Promise<{ samples: number; drafts: number; challenges: number }> {
  const [samples, drafts, challenges] = await Promise.all([
    ctx.requests.deleteExpiredSamples(now),
    ctx.reportDrafts.deleteExpired(now),
    ctx.challenges.deleteExpired(new Date(now.getTime() - CHALLENGE_KEEP_DAYS * DAY_MS)),
  ]);
  return { samples, drafts, challenges };
}

/** Runs enforceRetention at start and every `everyMs` (default an hour) in the worker role; stops with close(). */
export class Housekeeping {
  readonly name = 'housekeeping';
  private readonly timer: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: Context,
    everyMs = 3_600_000,
  ) {
    const run = () => {
      this.running = enforceRetention(ctx).then(
        (n) => (n.samples || n.drafts || n.challenges) && ctx.logger.info(n, 'retention enforced'),
        (err: unknown) => ctx.logger.warn({ err: (err as Error).message }, 'retention: will retry'),
      );
    };
    run();
    this.timer = setInterval(run, everyMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
