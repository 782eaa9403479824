import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { storedRequestIds } from '../helpers/portal.js';

const roomy = { max: 1000, windowMinutes: 10 };

describe('form bodies (application/x-www-form-urlencoded)', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, delistPerClientIp: roomy, delistPerEmail: roomy, delistPerTargetIp: roomy } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  const stored = () => storedRequestIds(ctx).then((ids) => ids.length);
  let n = 0;
  /** A visitor with the form open, and a body for it with an email of its own (no cool-down between tests). */
  async function session() {
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/delist'));
    return { agent, token, body: `_csrf=${encodeURIComponent(token)}&email=form${++n}%40example.org&ip=198.51.100.61` };
  }

  it('reads a UTF-8 form, with or without its charset named', async () => {
    const { agent, body } = await session();
    for (const type of ['application/x-www-form-urlencoded', 'Application/X-WWW-Form-Urlencoded; charset=UTF-8']) {
      const res = await agent.post('/delist').set('content-type', type).send(body);
      assert.equal(res.status, 303, type);
    }
  });

  it('answers 415 with a readable page for a charset other than UTF-8 or Latin-1, or a compressed body, storing nothing', async () => {
    const { agent, body } = await session();
    const before = await stored();
    for (const charset of ['koi8-r', 'utf-16']) {
      const res = await agent.post('/delist').set('content-type', `application/x-www-form-urlencoded; charset=${charset}`).send(body);
      assert.equal(res.status, 415, charset);
      assert.match(res.text, /<html/i);
      assert.match(res.text, /UTF-8/);
    }
    const gzip = await agent.post('/delist').set('content-type', 'application/x-www-form-urlencoded').set('content-encoding', 'gzip').send(body);
    assert.equal(gzip.status, 415);
    assert.match(gzip.text, /content encoding is not supported/);
    assert.equal(await stored(), before);
  });

  it('reads a Latin-1 form as Latin-1 (body-parser decodes both charsets a browser may name)', async () => {
    const { agent, token } = await session();
    const latin = await agent
      .post('/delist')
      .set('content-type', 'application/x-www-form-urlencoded; charset=iso-8859-1')
      .send(`_csrf=${encodeURIComponent(token)}&email=caf%E9&ip=198.51.100.61`);
    assert.equal(latin.status, 400); // not an email address: the form comes back with what was entered
    assert.match(latin.text, /value="café"/);
  });

  it('answers 413 over 16 kB (declared or streamed) and over 20 fields, storing nothing', async () => {
    const { agent, body } = await session();
    const before = await stored();
    const big = await agent.post('/delist').type('form').send(`${body}&comment=${'x'.repeat(17_000)}`);
    assert.equal(big.status, 413);
    const many = await agent.post('/delist').type('form').send(`${body}${Array.from({ length: 20 }, (_, i) => `&f${i}=1`).join('')}`);
    assert.equal(many.status, 413);
    assert.match(many.text, /more fields than we accept/);
    assert.equal(await stored(), before);
  });

  it('turns a repeated field into a list the form refuses, and never lets a field name reach a prototype', async () => {
    const { agent, body } = await session();
    const before = await stored();
    const twice = await agent.post('/delist').type('form').send(`${body}&email=other%40example.org`);
    assert.equal(twice.status, 400);
    const proto = await agent.post('/delist').type('form').send(`${body}&__proto__=x&constructor=y&toString=z`);
    assert.equal(proto.status, 303);
    assert.equal(({} as Record<string, unknown>).x, undefined);
    assert.equal(await stored(), before + 1);
  });

  it('lets a body that breaks off go without an answer or a record, and keeps serving', async () => {
    const server: Server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    const before = await stored();
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write('POST /delist HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n_csrf=abc&email=');
        setTimeout(() => socket.destroy(), 100);
      });
      socket.on('close', () => resolve());
    });
    const page = await fetch(`http://127.0.0.1:${port}/delist`);
    assert.equal(page.status, 200);
    assert.equal(await stored(), before);
    await new Promise((r) => server.close(r));
  });
});
