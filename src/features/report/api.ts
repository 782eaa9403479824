import express, { Router, type RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { AppError, PayloadTooLargeError, ValidationError } from '../../errors.js';
import { requireApiToken } from '../../http/api-auth.js';
import { submitMachineReport, apiFields } from './service.js';

/**
 * `POST /api/v1/reports`: a raw RFC 5322 message, an ARF report or X-ARF as the body → 202 with what we parsed.
 * The body is taken as sent: a compressed one (any Content-Encoding but identity) is refused with 415 before a byte
 * of it is read, so 15 KB on the wire can never become 10 MB to parse; inflate is off as a second guard.
 */
export function reportApiRoutes(ctx: Context): Router {
  const r = Router();
  const body = express.raw({ type: () => true, limit: ctx.policy.samples.maxBytes, inflate: false });
  const identityOnly: RequestHandler = (req, _res, next) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding === 'identity' || encoding === '') return next();
    req.resume(); // discarded unread
    next(new AppError(415, 'UNSUPPORTED_ENCODING', 'Send the report uncompressed: Content-Encoding is not supported on this endpoint (only identity).'));
  };
  r.post('/api/v1/reports', requireApiToken(ctx.apiTokens), identityOnly, (req, res, next) =>
    body(req, res, (err?: unknown) => {
      if (err && (err as { type?: string }).type === 'entity.too.large') return next(new PayloadTooLargeError(`A report may be at most ${ctx.policy.samples.maxBytes} bytes.`));
      next(err);
    }),
  async (req, res) => {
    if (!Buffer.isBuffer(req.body) || req.body.length === 0) throw new ValidationError('Send the report as the request body (message/rfc822, multipart/report or X-ARF).', { body: 'empty' });
    const { id, summary } = await submitMachineReport(ctx, req.body, { channel: 'api', clientIp: req.ip ?? '', apiTokenName: String(res.locals.apiClient) });
    res.status(202).json({ id, statusUrl: `${ctx.config.publicUrl}/status/${id}`, parsed: apiFields(summary) });
  });
  return r;
}
