import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { addListing } from '../../src/features/blocklist/service.js';
import { restrictTenant } from '../../src/features/unblock/service.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { eventually, startPortal } from '../helpers/portal.js';
import { decodeQuotedPrintable } from '../helpers/smtp.js';
import { signedIn } from '../helpers/staff.js';

type Portal = Awaited<ReturnType<typeof startPortal>>;

describe('staff work on tickets (real Redis, worker, SMTP)', () => {
  let portal: Portal;
  let triager: Awaited<ReturnType<typeof signedIn>>;
  let apiToken: string;
  before(async () => {
    portal = await startPortal();
    triager = await signedIn(portal.ctx, portal.app, 'tri@example.net', 'triager');
    apiToken = await portal.ctx.apiTokens.create('fbl');
  });
  after(() => portal.stop());

  const act = (id: string, fields: Record<string, string>) => triager.agent.post(`/staff/tickets/${id}/action`).type('form').send({ _csrf: triager.csrf, ...fields });
  const auditFor = async (target: string) => (await portal.ctx.audit.recent(500)).filter((e) => e.target === target);

  /** A delist request that the policy sends to review (a botnet listing). */
  async function reviewTicket(ip: string, email: string): Promise<{ ticketId: string; requestId: string }> {
    await addListing(portal.ctx, { target: ip, category: 'botnet', source: 'test', by: 'test' });
    const agent = request.agent(portal.app);
    const form = await agent.get('/delist');
    await agent.post('/delist').type('form').send({ _csrf: csrfOf(form), email, ip }).expect(303);
    const mail = await portal.smtp.waitFor((m) => m.to.includes(email));
    const link = /\/delist\/confirm\/[A-Za-z0-9_-]{43}/.exec(decodeQuotedPrintable(mail.raw))![0];
    const confirm = await agent.get(link);
    const done = await agent.post(link).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
    const requestId = done.headers.location!.split('/').pop()!;
    const req = await eventually(async () => {
      const r = await portal.ctx.requests.get(requestId);
      return r?.state === 'needs_review' ? r : null;
    });
    return { ticketId: req.ticketId!, requestId };
  }

  it('lists the review in the queue, with a working tab count, filter by IP and sort', async () => {
    const { ticketId } = await reviewTicket('198.51.100.150', 'queue@example.org');
    const queue = await triager.agent.get('/staff').expect(200);
    assert.match(queue.text, new RegExp(`/staff/tickets/${ticketId}`));
    assert.match(queue.text, /delist-review \(1\)/);
    const filtered = await triager.agent.get('/staff?ip=198.51.100.150&sort=age').expect(200);
    assert.match(filtered.text, new RegExp(ticketId));
    const other = await triager.agent.get('/staff?ip=192.0.2.1').expect(200);
    assert.doesNotMatch(other.text, new RegExp(ticketId));
  });

  it('approves a delist review: the IP is removed through the publisher, the requester is told, the audit log has it', async () => {
    const { ticketId, requestId } = await reviewTicket('198.51.100.151', 'approve@example.org');
    await act(ticketId, { action: 'approve-delist' }).expect(303);
    assert.equal((await request(portal.app).get('/api/v1/blocklist/check/198.51.100.151')).body.listed, false);
    assert.equal((await portal.ctx.requests.get(requestId))?.state, 'delisted');
    assert.equal((await portal.ctx.tickets.get(ticketId))?.state, 'closed');
    await portal.smtp.waitFor((m) => m.to.includes('approve@example.org') && /Subject: Your delisting request.*Delisted/.test(m.raw));
    const audit = await auditFor(ticketId);
    assert.equal(audit[0]?.action, 'ticket.approve');
    assert.equal(audit[0]?.actor, 'tri@example.net');
    assert.equal((await act(ticketId, { action: 'approve-delist' })).status, 409);
  });

  it('refuses a delist review with a reason the requester reads', async () => {
    const { ticketId, requestId } = await reviewTicket('198.51.100.152', 'refuse@example.org');
    // The refusal and the closure ask the staff member to confirm what the requester will read (a required checkbox).
    const page = await triager.agent.get(`/staff/tickets/${ticketId}`).expect(200);
    for (const form of ['refuse', 'close']) {
      assert.match(page.text, new RegExp(`<input type="checkbox" id="${form}-confirm" name="confirm" value="yes" required> <label for="${form}-confirm">I confirm: [^<]+ will read this reason`), form);
    }
    // No reason, or hours that are not a number: refused beside the field, nothing changes.
    const noReason = await act(ticketId, { action: 'refuse-delist', reason: ' ' });
    assert.equal(noReason.status, 400);
    assert.match(noReason.text, /reason the requester will read/);
    assert.match(noReason.text, /Triage queue/, 'the error stays in the console');
    const back = await triager.agent.post(`/staff/tickets/${ticketId}/action`).set('Referer', `http://portal.test/staff/tickets/${ticketId}`).type('form').send({ _csrf: triager.csrf, action: 'refuse-delist' });
    assert.match(back.text, new RegExp(`href="/staff/tickets/${ticketId}">Back to where you were`));
    assert.equal((await act(ticketId, { action: 'set-pool', pool: 'high-risk', hours: 'abc' })).status, 400);
    await act(ticketId, { action: 'refuse-delist', reason: 'Still infected: we saw botnet traffic today.' }).expect(303);
    assert.equal((await portal.ctx.requests.get(requestId))?.state, 'refused');
    const mail = await portal.smtp.waitFor((m) => m.to.includes('refuse@example.org') && /Subject: Your delisting request.*Refused/.test(m.raw));
    assert.match(decodeQuotedPrintable(mail.raw), /Still infected/);
    assert.equal((await request(portal.app).get('/api/v1/blocklist/check/198.51.100.152')).body.listed, true);
  });

  it('keeps internal notes off the mail, and mails a reply with the template of its kind', async () => {
    const { ticketId } = await reviewTicket('198.51.100.153', 'notes@example.org');
    await triager.agent.post(`/staff/tickets/${ticketId}/note`).type('form').send({ _csrf: triager.csrf, note: 'internal: checked the sinkhole logs' }).expect(303);
    await triager.agent.post(`/staff/tickets/${ticketId}/reply`).type('form').send({ _csrf: triager.csrf, template: 'need-info', reply: 'Which mail server software do you run?' }).expect(303);
    const mail = await portal.smtp.waitFor((m) => m.to.includes('notes@example.org') && /We need more information/.test(m.raw));
    const text = decodeQuotedPrintable(mail.raw);
    assert.match(text, /Which mail server software/);
    assert.doesNotMatch(text, /sinkhole/);
    const page = await triager.agent.get(`/staff/tickets/${ticketId}`).expect(200);
    assert.match(page.text, /internal note/);
    assert.deepEqual((await auditFor(ticketId)).map((e) => e.action).sort(), ['ticket.note', 'ticket.reply']);
  });

  it('shows hostile sample headers as inert text on the ticket page and the raw view', async () => {
    const hostile = messageFromTenant({ tenant: 'hostile-t', messageId: '<x1@shop.example.com>', subject: '<script>alert("subject")</script><img src=x onerror=alert(1)>', from: 'evil"<svg/onload=alert(2)>@shop.example.com' });
    const res = await request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${apiToken}`).set('Content-Type', 'message/rfc822').send(hostile).expect(202);
    const req = await eventually(async () => {
      const r = await portal.ctx.requests.get(res.body.id);
      return r?.ticketId ? r : null;
    });
    const page = await triager.agent.get(`/staff/tickets/${req.ticketId}`).expect(200);
    assert.doesNotMatch(page.text, /<script>alert|<img src=x|<svg/);
    assert.match(page.text, /&lt;script&gt;alert/);
    const raw = await triager.agent.get(`/staff/reports/${res.body.id}/raw`).expect(200);
    assert.match(raw.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(raw.headers['x-content-type-options'], 'nosniff');
    assert.match(raw.headers['content-security-policy'] ?? '', /sandbox/);
  });

  it('confirms an abuse case: tenant to high-risk, case closed, reporters told; merge moves reports', async () => {
    const post = (tenant: string, id: string) => request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${apiToken}`).set('Content-Type', 'message/rfc822').send(messageFromTenant({ tenant, messageId: id })).expect(202);
    const a = (await post('case-a', '<ca1@x.example>')).body.id;
    const b = (await post('case-b', '<cb1@x.example>')).body.id;
    const ticketOf = (id: string) => eventually(async () => (await portal.ctx.requests.get(id))?.ticketId);
    const [ta, tb] = [await ticketOf(a), await ticketOf(b)];
    await act(ta, { action: 'merge', duplicate: tb }).expect(303);
    assert.equal((await portal.ctx.tickets.get(tb))?.state, 'closed');
    assert.equal((await portal.ctx.tickets.reports(ta)).length, 2);
    await act(ta, { action: 'confirm-abuse', hours: '48' }).expect(303);
    const snap = await portal.ctx.routing.snapshot();
    const assignment = snap.assignments.find((x) => x.key === 'case-a');
    assert.equal(assignment?.pool, 'high-risk');
    assert.equal(Math.round((Date.parse(assignment!.expiresAt!) - Date.parse(assignment!.assignedAt)) / 3_600_000), 48);
    assert.deepEqual((await auditFor(ta)).map((e) => e.action).sort(), ['ticket.confirm']);
    assert.ok((await auditFor('tenant:case-a')).some((e) => e.action === 'pool.assign' && e.actor === 'tri@example.net'));
  });

  it('takes a tenant unblock request from the public form to staff approval and probation in the routing data', async () => {
    await restrictTenant(portal.ctx, 'blocked-tenant', 'relayed spam from unregistered domains', 'test');
    const agent = request.agent(portal.app);
    const form = await agent.get('/unblock').expect(200);
    const missing = await agent.post('/unblock').type('form').send({ _csrf: csrfOf(form), tenant: 'blocked-tenant', email: 'admin@blocked.example', evidence: 'short' });
    assert.equal(missing.status, 400);
    assert.match(missing.text, /Register all your sending domains/);
    await agent
      .post('/unblock')
      .type('form')
      .send({ _csrf: csrfOf(form), tenant: 'blocked-tenant', email: 'admin@blocked.example', domainsRegistered: 'on', connectorsReviewed: 'on', serversLockedDown: 'on', evidence: 'We removed a rogue inbound connector and patched the Exchange server; all domains are now accepted domains.' })
      .expect(303);
    const mail = await portal.smtp.waitFor((m) => m.to.includes('admin@blocked.example'));
    const link = /\/unblock\/confirm\/[A-Za-z0-9_-]{43}/.exec(decodeQuotedPrintable(mail.raw))![0];
    const confirm = await agent.get(link);
    const done = await agent.post(link).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
    const requestId = done.headers.location!.split('/').pop()!;
    const ticketId = (await portal.ctx.requests.get(requestId))!.ticketId!;
    // Two staff approve at once: one wins; the restriction is lifted once (one routing change, one audit row).
    const both = await Promise.all([act(ticketId, { action: 'approve-unblock' }), act(ticketId, { action: 'approve-unblock' })]);
    assert.deepEqual(both.map((r) => r.status).sort(), [303, 409]);
    assert.equal((await auditFor('tenant:blocked-tenant')).filter((e) => e.action === 'restriction.probation').length, 1);
    const restriction = (await portal.ctx.routing.snapshot()).restrictions.find((r) => r.tenant === 'blocked-tenant');
    assert.equal(restriction?.state, 'probation');
    assert.ok(restriction?.expiresAt);
    assert.equal((await portal.ctx.requests.get(requestId))?.state, 'approved');
    await eventually(async () => (await portal.ctx.jobs.maintenance.getDelayed()).some((j) => j.data.key === 'tenant:blocked-tenant'));
    await portal.smtp.waitFor((m) => m.to.includes('admin@blocked.example') && /resolved/.test(m.raw));
  });

  it('enforces the allow-list guardrails: consumer ranges refused, wide entries need admin, each audited', async () => {
    const post = (fields: Record<string, string>) => triager.agent.post('/staff/lists/allowlist/add').type('form').send({ _csrf: triager.csrf, ...fields });
    assert.equal((await post({ target: '100.64.10.0/24', reason: 'x' })).status, 400);
    const overlapping = await post({ target: '192.0.2.200/29', reason: 'x' });
    assert.equal(overlapping.status, 400);
    assert.match(overlapping.text, /consumer or shared-infrastructure/);
    const wide = await post({ target: '203.0.112.0/23', reason: 'x' });
    assert.equal(wide.status, 403);
    assert.equal((await post({ target: '203.0.113.200/29', reason: 'partner MTA' })).status, 303);
    const entry = (await portal.ctx.routing.snapshot()).allowlist.find((a) => a.cidr === '203.0.113.200/29');
    assert.match(entry?.reviewBy ?? '', /^\d{4}-\d{2}-\d{2}$/);
    assert.equal((await auditFor('203.0.113.200/29'))[0]?.action, 'allowlist.add');
  });
});
