import { withTemplate } from '../staff/staff-texts.js';
import type { PortalRequest, RequestEvent, RequestState } from '../../stores/requests.js';

/** How each request state reads to the public, and what happens next. */
export const STATE_LABELS: Record<RequestState, { label: string; next: string }> = {
  awaiting_confirmation: { label: 'Waiting for email confirmation', next: 'Open the link we sent by email and press "Delist IP".' },
  queued: { label: 'Queued', next: 'Your request is being processed; this page updates when it is done.' },
  delisted: { label: 'Delisted', next: 'Nothing more to do. Mail from this IP address is accepted again.' },
  not_listed: { label: 'Not listed', next: 'The IP address is not on our list. If your mail still bounces, check the bounce message: the block may be elsewhere.' },
  needs_review: { label: 'Needs review by our staff', next: 'Our support staff will look at your request and answer you by email.' },
  refused: { label: 'Refused', next: 'The request cannot be done through self-service. If you have a question about it, write to our staff through the contact form.' },
  received: { label: 'Received', next: 'Your report was added to the abuse case of the sender. Our staff follow up on it; thank you.' },
  approved: { label: 'Approved', next: 'Our staff approved the request. A probation period follows: keep your servers locked down.' },
  closed: { label: 'Closed', next: 'Our staff closed this request. Thank you.' },
  duplicate: { label: 'Already reported', next: 'We already had this message; it counts once. Thank you for reporting it.' },
};

/** A request's reason in the reader's language when it has a message key, else as stored (English, or a staff member's words). */
export function reasonText(t: ((key: string, opts?: Record<string, unknown>) => string) | undefined, request: { reason?: string; reasonCode?: string; reasonParams?: string }): string {
  if (t && request.reasonCode) {
    const key = `reason.${request.reasonCode}`;
    const text = t(key, { ...publicParams(request.reasonParams), defaultValue: '' });
    if (text && text !== key) return text;
  }
  return request.reason ?? '';
}

type Translate = (key: string, opts?: Record<string, unknown>) => string;

/**
 * Reason parameters a public answer may use: counts, durations, a category, the tenant the requester named.
 * Never an id of another request or case (`canonicalId`, `caseId`) or anything naming a person.
 */
const PUBLIC_PARAMS: readonly string[] = ['category', 'max', 'days', 'inWindow', 'hours', 'tenant', 'foundBy', 'note', 'template', 'ip'];

/** How a report's customer was found, as the reporter may read it (the signal's name only, never the tenant). */
const FOUND_BY: readonly string[] = ['tenant-header-verified', 'feedback-id', 'verp', 'dkim-domain', 'mail-from-domain', 'from-domain', 'tenant-header-claimed', 'none'];

export function publicParams(raw: string | undefined): Record<string, unknown> {
  let params: unknown;
  try {
    params = raw ? JSON.parse(raw) : {};
  } catch {
    params = {};
  }
  if (!params || typeof params !== 'object') return {};
  return Object.fromEntries(Object.entries(params).filter(([k, v]) => PUBLIC_PARAMS.includes(k) && (typeof v === 'string' || typeof v === 'number')));
}

/**
 * The public parameters of a message, in the reader's words: a listing category by its name (`categoryName.<id>`),
 * never its id (`spam-source`); a staff template (`template`) by its text in the reader's language.
 */
export function localParams(t: Translate, raw: string | undefined): Record<string, unknown> {
  const params = withTemplate(t, publicParams(raw));
  if (typeof params.category === 'string') params.category = t(`categoryName.${params.category}`, { defaultValue: params.category });
  return params;
}

/**
 * A message we keep as a key and its parameters, in the reader's language ('' when the key is unknown). A reason
 * (`reason.…`) of a report also says how we found which of our customers sent the message (not who it is).
 */
export function keyedText(t: Translate, key: string, rawParams: string | undefined): string {
  if (!/^(reason|timeline|staffText)\./.test(key)) return '';
  const params = localParams(t, rawParams);
  const text = t(key, { ...params, defaultValue: '' });
  if (!text || text === key) return '';
  if (!key.startsWith('reason.')) return text;
  const foundBy = typeof params.foundBy === 'string' && FOUND_BY.includes(params.foundBy) ? t(`reason.customerFoundBy.${params.foundBy}`, { defaultValue: '' }) : '';
  if (!foundBy || foundBy.startsWith('reason.')) return text;
  return /[。！？]$/.test(text) ? `${text}${foundBy}` : `${text} ${foundBy}`;
}

/**
 * A request's reason as the public may read it, in the reader's language: from its message key and the public
 * parameters only (the stored English text may name other requests, a case, or who sent a machine report). A reason
 * without a key is one our staff wrote to this requester (a refusal), which they also had by mail. '' for none.
 */
export function publicReason(t: Translate, request: Pick<PortalRequest, 'reason' | 'reasonCode' | 'reasonParams'>): string {
  if (request.reasonCode) return keyedText(t, `reason.${request.reasonCode}`, request.reasonParams);
  return request.reason ?? '';
}

export interface PublicEvent {
  at: string;
  state: RequestState;
  /** The step in the reader's language; '' when only its state is shown. */
  message: string;
}

/**
 * A request's timeline as the public may read it: a step kept with its message key (issue 16) in the reader's
 * language, each with its own parameters, so a later step never changes an earlier one. Rows written before have
 * only English text: the first steps read as `timeline.<type>.<state>` (no parameter naming anyone), the decision
 * step as the request's public reason. A step without a key shows its state only.
 */
export function publicTimeline(t: Translate, request: PortalRequest, events: RequestEvent[]): PublicEvent[] {
  const reason = publicReason(t, request);
  return events.map((e) => {
    if (e.key) return { at: e.at, state: e.state, message: keyedText(t, e.key, e.params) };
    if (request.reason && e.message === request.reason) return { at: e.at, state: e.state, message: reason };
    const step = request.type === 'report' && e.state === 'queued' && request.channel && request.channel !== 'web' ? 'received' : e.state;
    const key = `timeline.${request.type}.${step}`;
    const text = t(key, { channel: request.channel === 'api' ? 'API' : 'SMTP', defaultValue: '' });
    return { at: e.at, state: e.state, message: text && text !== key ? text : '' };
  });
}

/** An address as the public may see it: first character and domain (`a…@example.org`). */
export const maskEmail = (email: string) => email.replace(/^(.).*(@.*)$/, '$1…$2');

/**
 * What a public status answer (page or JSON) holds of a request: nothing else reaches the view. The email is the
 * requester's own, masked; the tenant and IP are what the requester gave (or, for a report, where it left us).
 */
export function publicStatus(t: Translate, request: PortalRequest, events: RequestEvent[]) {
  return {
    id: request.id,
    type: request.type,
    state: request.state,
    ip: request.ip || '',
    tenant: request.tenant ?? '',
    email: request.email ? maskEmail(request.email) : '',
    reason: publicReason(t, request),
    events: publicTimeline(t, request, events),
  };
}
