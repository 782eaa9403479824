import { storedRequestIds } from '../helpers/portal.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { createMailer, readOutbox } from '../../src/mail/mailer.js';
import { processSendMail } from '../../worker/processors/send-mail.js';
import { testContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { decodeQuotedPrintable } from '../helpers/smtp.js';

/**
 * Issue 13 review: the unblock challenge mail carried the tenant id as typed to an address that had not confirmed
 * anything, so anyone could send "Urgent-verify-your-account-at-www.evil-login.example" from our domain to any address.
 * Like the report challenge, it now carries our fixed text and the link only; the confirm page shows the tenant.
 */
const PHISH = 'Urgent-verify-your-account-at-www.evil-login.example';

describe('the unblock challenge mail carries nothing the requester typed', () => {
  for (const lang of ['en', 'ko', 'zh-TW']) {
    it(`sends our fixed text and the link only (${lang}); the confirm page it leads to names the tenant`, async () => {
      const ctx = testContext();
      try {
        const app = createApp(ctx);
        const agent = request.agent(app);
        const csrf = csrfOf(await agent.get('/unblock').set('Accept-Language', lang));
        const res = await agent
          .post('/unblock')
          .set('Accept-Language', lang)
          .type('form')
          .send({ _csrf: csrf, tenant: PHISH, email: 'target@victim.example', domainsRegistered: 'on', connectorsReviewed: 'on', serversLockedDown: 'on', evidence: 'Please see https://www.evil-login.example/verify now.' });
        assert.equal(res.status, 303, res.text);
        const id = (await storedRequestIds(ctx)).at(-1)!;
        assert.equal((await ctx.requests.get(id))?.tenant, PHISH, 'the request keeps the tenant');

        const mailer = createMailer({ smtpUrl: undefined, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
        await processSendMail(ctx, mailer, { kind: 'unblock-challenge', requestId: id });
        mailer.close();
        const [mail] = await readOutbox(ctx.redis, ctx.keys);
        assert.equal(mail?.to, 'target@victim.example');
        for (const part of [mail!.subject, mail!.text, mail!.raw, decodeQuotedPrintable(mail!.raw)]) {
          for (const bad of ['evil-login', 'Urgent', 'verify-your-account', '/verify']) assert.ok(!part.includes(bad), `the ${lang} mail carries "${bad}":\n${part}`);
        }
        const link = new RegExp(`${ctx.config.publicUrl}/unblock/confirm/([A-Za-z0-9_-]{20,})`).exec(mail!.text);
        assert.ok(link, mail!.text);
        const page = await request(app).get(`/unblock/confirm/${link[1]}`).set('Accept-Language', lang).expect(200);
        assert.ok(page.text.includes(PHISH), 'the confirm page, opened from the link, shows the tenant');
      } finally {
        await ctx.cleanup();
      }
    });
  }
});
