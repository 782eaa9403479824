import { Router, type Response } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { CHALLENGE_EMAIL, challengeLimiters, countOrShowForm, limiter } from '../../http/rate-limit.js';
import { isRequestId } from '../../stores/requests.js';
import { echo, parseForm } from '../delist/schema.js';
import { sendContactMessage } from './service.js';

/** Messages are keys the views translate (src/i18n/locales/*.json, `errors.*`). */
const contactForm = z.object({
  email: z.string().trim().min(1, 'errors.email.requiredContact').max(254, 'errors.email.tooLong').pipe(z.email({ message: 'errors.email.invalid' })).transform((e) => e.toLowerCase()),
  name: z.string().trim().max(100, 'errors.contact.nameTooLong').regex(/^[^\x00-\x1f\x7f]*$/, 'errors.contact.nameTooLong').optional().default(''),
  message: z.string().trim().min(10, 'errors.contact.messageTooShort').max(5000, 'errors.contact.messageTooLong'),
  // A request the message is about (from a status page's link): kept only when it has a request id's form.
  request: z.string().optional().default('').transform((v) => (isRequestId(v.trim()) ? v.trim() : '')),
});

const FIELDS = ['email', 'name', 'message', 'request'];

/**
 * The public contact form: a message to our staff from any page (the footer links it; a status page links it with
 * its request). It opens a ticket in the staff queue; the sender follows it on its status page and gets the
 * answers by mail. Counted once the form validated (a typo counts against nothing): per client, per address, and the
 * caps per recipient and recipient domain every flow that mails an address shares.
 */
export function contactRoutes(ctx: Context): Router {
  const r = Router();
  const render = (res: Response, status: number, values: Record<string, string>, errors: Record<string, string>, limited?: { minutes: number }) =>
    res.status(status).render('contact/form', { title: 'Write to our staff', values, errors, limited });

  r.get('/contact', (req, res) => {
    const values = echo({ request: typeof req.query.request === 'string' && isRequestId(req.query.request) ? req.query.request : '' }, FIELDS);
    render(res, 200, values, {});
  });
  const limits = [limiter(ctx.redis, ctx.keys, 'contact-client', ctx.policy.rateLimits.contactPerClientIp), ...challengeLimiters(ctx.redis, ctx.keys, ctx.policy, 'contact-email', ctx.policy.rateLimits.contactPerEmail)];
  r.post('/contact', async (req, res) => {
    // The message is given back whole (echo keeps 300 characters of a field), within the form's bound.
    const values: Record<string, string> = { ...echo(req.body, FIELDS), message: typeof req.body?.message === 'string' ? req.body.message.slice(0, 5000) : '' };
    if (!isRequestId(values.request ?? '')) values.request = '';
    const parsed = parseForm(contactForm, req.body);
    if (!parsed.ok) return render(res, 400, values, parsed.fields);
    res.locals[CHALLENGE_EMAIL] = parsed.value.email;
    if (!(await countOrShowForm(limits, req, res, (limited) => render(res, 429, values, {}, limited)))) return;
    const id = await sendContactMessage(ctx, { lang: res.locals.lang, email: parsed.value.email, name: parsed.value.name, message: parsed.value.message, about: parsed.value.request });
    res.redirect(303, `/contact/sent/${id}`);
  });
  r.get('/contact/sent/:id', async (req, res) => {
    const id = String(req.params.id);
    const request = isRequestId(id) ? await ctx.requests.get(id) : null;
    if (!request || request.type !== 'contact') return res.redirect(303, '/contact');
    res.render('contact/sent', { title: 'Your message reached our staff', id });
  });
  return r;
}
