import { Router, type Request, type RequestHandler } from 'express';
import multer from 'multer';
import type { Context } from '../../context.js';
import { AppError, PayloadTooLargeError, ValidationError } from '../../errors.js';
import { countingAddress } from '../../domain/email-address.js';
import { CHALLENGE_EMAIL, challengeLimiters, countOrRefuse, countOrShowForm, limiter, refundableLimiter } from '../../http/rate-limit.js';
import { useRequestLanguage } from '../../i18n/index.js';
import { isTokenShaped } from '../../stores/challenges.js';
import { echo, parseForm } from '../delist/schema.js';
import { CATEGORIES, reportForm } from './schema.js';
import { confirmReport, createDraft, getDraft, submitDraft, viewReportConfirmation } from './service.js';

const FIELDS = ['email', 'category', 'comment', 'raw'];
/** Sample refusals we have a translated message for (SampleError codes, src/domain/samples.ts). */
const SAMPLE_ERRORS = new Set(['BINARY', 'NOT_A_MESSAGE', 'TOO_DEEP', 'TOO_COMPLEX']);
/** What the form may add to its sample: the other fields (email, category, a 2000-character comment, the token) and the multipart framing. */
const FORM_OVERHEAD = 64 * 1024;
/** The visitor cookie the CSRF token is bound to (src/http/security.ts). */
const VISITOR_COOKIE = 'pm_vid';
/** A multipart body (media types are case-insensitive; parameters may follow). */
const MULTIPART = /^\s*multipart\/form-data\s*(;|$)/i;

/** The fields a refused upload gives back to the form: everything but the sample (the pasted source comes after the file). */
const KEPT_FIELDS = ['email', 'category', 'comment'];
/** What a body over the limit may send before its file starts: the token and the three small fields (a 2000-character comment). */
const LEADING_FIELDS_BYTES = 16 * 1024;
/** Marks the moment the file of an over-long body starts: its leading fields are read, the rest is discarded. */
class FileStarted extends Error {}

/** A refused sample as a message key for the form (`errors.sample.<code>`), else its English message as it is. */
function sampleErrorKey(err: ValidationError): string {
  const code = err.fields.sample;
  return code && SAMPLE_ERRORS.has(code) ? `errors.sample.${code}` : err.message;
}

/** The public report flow: form with upload → preview of what we parsed → email challenge → confirm → status. */
export function reportRoutes(ctx: Context, csrfAfterUpload: RequestHandler): Router {
  const r = Router();
  const maxBytes = ctx.policy.samples.maxBytes;
  const tooLarge = () => new PayloadTooLargeError(`The message is larger than ${Math.round(maxBytes / 1048576)} MB.`);
  // One file, the form's five fields and nothing else. multer has one fieldSize for every field and the pasted
  // source needs the sample limit, so the request as a whole is bounded by its Content-Length (checkBeforeUpload);
  // the small fields are then checked by the form schema. The token is checked as soon as the file starts (the
  // form sends it first), so no file is read for a request whose token is wrong, and once more after the upload.
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxBytes, fieldSize: maxBytes, files: 1, fields: FIELDS.length + 1, parts: FIELDS.length + 2, fieldNameSize: 16, headerPairs: 8 },
    fileFilter: (req, _file, accept) => csrfAfterUpload(req, req.res!, (err?: unknown) => (err ? accept(err as Error) : accept(null, true))),
  }).single('sample');
  const maxMb = Math.round(maxBytes / 1048576);
  const render = (res: Parameters<RequestHandler>[1], status: number, values: Record<string, string>, errors: Record<string, string>, limited?: { minutes: number }) =>
    res.status(status).render('report/form', { title: status === 200 ? 'Report junk mail sent through our service' : 'Please check your report', values, errors, errorParams: { mb: maxMb }, categories: CATEGORIES, maxMb, limited });
  /**
   * A sample over the limit: the form comes back (413) with the fields the visitor typed and the limit named, once
   * the token they came with is checked. The rest of the body is read and discarded, never kept.
   */
  const refuseTooLarge = (req: Request, res: Parameters<RequestHandler>[1], next: (err?: unknown) => void) =>
    csrfAfterUpload(req, res, (err?: unknown) => (err ? next(err) : render(res, 413, echo(req.body, KEPT_FIELDS), { sample: 'errors.sample.tooLarge' })));
  // An over-long body (a file over the limit, as a browser sends it): only the fields before the file are read, and
  // the answer goes out as soon as the file starts. Anything else that body holds is bounded small and discarded.
  const leadingFields = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: 0, fieldSize: LEADING_FIELDS_BYTES, files: 1, fields: FIELDS.length + 1, parts: FIELDS.length + 2, fieldNameSize: 16, headerPairs: 8 },
    fileFilter: (req, _file, accept) => {
      req.emit('pm:file-started');
      accept(new FileStarted());
    },
  }).single('sample');
  /**
   * Before the sample is read: a length is required. A body longer than the sample limit plus the form's own fields
   * is answered 413 naming the limit: a browser's form gets back its fields (read up to where the file starts, the
   * rest discarded), anything else is answered before its body is read. A request without the visitor cookie its
   * token is bound to (or with the token in the X-CSRF-Token header) has its token checked right away (403).
   */
  const checkBeforeUpload: RequestHandler = (req, res, next) => {
    const refuse = (err: Error) => {
      req.resume(); // the unread body is discarded, never buffered
      next(err);
    };
    const length = req.headers['content-length'];
    if (length === undefined) return refuse(new AppError(411, 'LENGTH_REQUIRED', 'Send the form with its length (a Content-Length header).'));
    const visitorId = (req as Request & { visitorId?: string }).visitorId;
    const knownVisitor = req.cookies?.[VISITOR_COOKIE] === visitorId && req.get('x-csrf-token') === undefined;
    if (Number(length) > maxBytes + FORM_OVERHEAD) {
      if (!knownVisitor || !MULTIPART.test(req.get('content-type') ?? '')) return refuse(tooLarge());
      let answered = false;
      const answer = (fn: () => void) => {
        if (answered) return;
        answered = true;
        fn();
      };
      // multer calls back once the body has ended (it drains what it does not read); the answer may already be out.
      leadingFields(req, res, (err: unknown) => answer(() => (err instanceof FileStarted || (err as { code?: string })?.code?.startsWith('LIMIT_') ? refuseTooLarge(req, res, next) : next(tooLarge()))));
      // The file starts: the fields before it are in req.body; answer now, while the rest is drained.
      req.once('pm:file-started', () => answer(() => refuseTooLarge(req, res, next)));
      return;
    }
    if (!knownVisitor) return csrfAfterUpload(req, res, (err?: unknown) => (err ? refuse(err as Error) : next()));
    next();
  };
  const readUpload: RequestHandler = (req, res, next) =>
    upload(req, res, (err: unknown) => {
      if (!err) return next();
      if (err instanceof AppError) return next(err);
      const code = (err as { code?: string }).code;
      if (code === 'LIMIT_FILE_SIZE' || code === 'LIMIT_FIELD_VALUE') return refuseTooLarge(req, res, next);
      if (code?.startsWith('LIMIT_')) return next(new ValidationError('The form has unexpected fields.'));
      next(new ValidationError('The upload could not be read. Please try again.'));
    });

  r.get('/report', (req, res) => render(res, 200, echo(req.query, FIELDS), {}));

  // Counted once a form validated (see challengeLimiters), from inside the handlers below.
  const draftPerEmail = limiter(ctx.redis, ctx.keys, 'report-draft-email', ctx.policy.rateLimits.reportDraftPerEmail, (_req, res) => countingAddress(String(res.locals[CHALLENGE_EMAIL])));
  const reportLimits = challengeLimiters(ctx.redis, ctx.keys, ctx.policy, 'report-email', ctx.policy.rateLimits.reportPerEmail);

  // Counted before the upload is read (no client has more uploads in flight than its limit), given back when the
  // form's fields do not validate. A sample we read and refused (not ours, not a message) stays counted: it was parsed.
  const clientLimit = refundableLimiter(ctx.redis, ctx.keys, 'report-client', ctx.policy.rateLimits.reportPerClientIp);
  r.post('/report', clientLimit, checkBeforeUpload, readUpload, csrfAfterUpload, async (req, res) => {
    const values = echo(req.body, FIELDS);
    const parsed = parseForm(reportForm, req.body);
    const file = req.file?.buffer;
    const raw = parsed.ok ? parsed.value.raw : values.raw!;
    const errors = parsed.ok ? {} : { ...parsed.fields };
    if (file?.length && raw.trim()) errors.sample = 'errors.sample.both';
    else if (!file?.length && !raw.trim()) errors.sample = 'errors.sample.missing';
    if (!parsed.ok || Object.keys(errors).length) {
      await clientLimit.refund(req);
      return render(res, 400, values, errors);
    }
    res.locals[CHALLENGE_EMAIL] = parsed.value.email;
    if (!(await countOrShowForm([draftPerEmail], req, res, (limited) => render(res, 429, values, {}, limited)))) return;
    try {
      const draftId = await createDraft(ctx, { lang: res.locals.lang, email: parsed.value.email, category: parsed.value.category, comment: parsed.value.comment, sample: file?.length ? file : Buffer.from(raw, 'utf8') });
      res.redirect(303, `/report/preview/${draftId}`);
    } catch (err) {
      if (err instanceof AppError && err.code === 'NotOurMail') return res.status(422).render('report/not-ours', { title: 'This message did not leave through our service', error: err });
      if (err instanceof AppError && err.code === 'SampleTooComplex') return render(res, 422, values, { sample: res.locals.lang === 'en' ? err.message : 'errors.sample.TOO_COMPLEX' });
      if (err instanceof ValidationError) return render(res, 400, values, { sample: sampleErrorKey(err) });
      throw err;
    }
  });

  r.get('/report/preview/:draft', async (req, res) => {
    const draft = await getDraft(ctx, String(req.params.draft));
    res.set('Cache-Control', 'no-store').render('report/preview', { title: 'Check what we understood', draft, s: draft.summary });
  });

  r.post('/report/preview/:draft', async (req, res) => {
    const draft = await getDraft(ctx, String(req.params.draft));
    res.locals[CHALLENGE_EMAIL] = draft.email;
    await countOrRefuse(reportLimits, req, res);
    await submitDraft(ctx, draft.id);
    res.redirect(303, '/report/sent');
  });

  r.get('/report/sent', (_req, res) => res.render('report/sent', { title: 'Check your email', ttlMinutes: ctx.policy.challenge.ttlMinutes }));

  const confirmLimit = limiter(ctx.redis, ctx.keys, 'report-confirm-client', ctx.policy.rateLimits.confirmPerClientIp, undefined, (req) => !isTokenShaped(String(req.params.token)));
  r.get('/report/confirm/:token', confirmLimit, async (req, res) => {
    const { request, summary } = await viewReportConfirmation(ctx, String(req.params.token));
    useRequestLanguage(req, res, request.lang);
    res.set('Referrer-Policy', 'no-referrer').render('report/confirm', { title: 'Confirm your report', request, s: summary, token: String(req.params.token) });
  });
  r.post('/report/confirm/:token', confirmLimit, async (req, res) => {
    const id = await confirmReport(ctx, String(req.params.token));
    res.redirect(303, `/status/${id}`);
  });
  return r;
}
