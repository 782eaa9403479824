import type { Context } from '../../src/context.js';
import type { SendMailJob } from '../../src/jobs/contract.js';
import type { Mailer } from '../../src/mail/mailer.js';
import { renderMail } from '../../src/mail/render.js';
import { STATE_LABELS } from '../../src/features/status/labels.js';
import { PermanentJobError } from './delist.js';

/** Renders and sends one mail about a request. The challenge token is derived here, never carried in the job. */
export async function processSendMail(ctx: Context, mailer: Mailer, job: SendMailJob): Promise<void> {
  const request = await ctx.requests.get(job.requestId);
  if (!request) throw new PermanentJobError(`request ${job.requestId} does not exist`);
  const base = { ip: request.ip, publicUrl: ctx.config.publicUrl };
  const mail =
    job.kind === 'delist-challenge'
      ? await renderMail('delist-challenge', request.email, {
          ...base,
          ttlMinutes: ctx.policy.challenge.ttlMinutes,
          confirmUrl: `${ctx.config.publicUrl}/delist/confirm/${ctx.challenges.tokenFor(request.challengeId)}`,
        })
      : await renderMail('delist-result', request.email, {
          ...base,
          stateLabel: STATE_LABELS[request.state].label,
          reason: request.reason ?? STATE_LABELS[request.state].next,
          statusUrl: `${ctx.config.publicUrl}/status/${request.id}`,
        });
  await mailer.send(mail);
}
