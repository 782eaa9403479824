import request from 'supertest';
import type { createApp } from '../../src/app.js';
import type { TestContext } from './context.js';
import { csrfOf } from './forms.js';

export const PASSWORD = 'correct horse battery staple';

/** Creates a staff user and returns a supertest agent signed in as them (cookies kept), with a CSRF token at hand. */
export async function signedIn(ctx: TestContext, app: ReturnType<typeof createApp>, email: string, role: 'viewer' | 'triager' | 'admin') {
  await ctx.staff.add(email, role, PASSWORD);
  const agent = request.agent(app);
  const page = await agent.get('/staff/login').expect(200);
  const res = await agent.post('/staff/login').type('form').send({ _csrf: csrfOf(page), email, password: PASSWORD });
  if (res.status !== 303) throw new Error(`login failed: ${res.status}`);
  const csrf = csrfOf(await agent.get('/staff'));
  return { agent, csrf };
}
