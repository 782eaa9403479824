import type { RequestState } from '../../stores/requests.js';

/** How each request state reads to the public, and what happens next. */
export const STATE_LABELS: Record<RequestState, { label: string; next: string }> = {
  awaiting_confirmation: { label: 'Waiting for email confirmation', next: 'Open the link we sent by email and press "Delist IP".' },
  queued: { label: 'Queued', next: 'Your request is being processed; this page updates when it is done.' },
  delisted: { label: 'Delisted', next: 'Nothing more to do. Mail from this IP address is accepted again.' },
  not_listed: { label: 'Not listed', next: 'The IP address is not on our list. If your mail still bounces, check the bounce message: the block may be elsewhere.' },
  needs_review: { label: 'Needs review by our staff', next: 'Our support staff will look at your request and answer you by email.' },
  refused: { label: 'Refused', next: 'The request cannot be done through self-service. Please contact support.' },
  received: { label: 'Received', next: 'Your report was added to the abuse case of the sender. Our staff follow up on it; thank you.' },
  approved: { label: 'Approved', next: 'Our staff approved the request. A probation period follows: keep your servers locked down.' },
  closed: { label: 'Closed', next: 'Our staff closed this case. Thank you.' },
  duplicate: { label: 'Already reported', next: 'We already had this message; it counts once. Thank you for reporting it.' },
};

/** A request's reason in the reader's language when it has a message key, else as stored (English, or a staff member's words). */
export function reasonText(t: ((key: string, opts?: Record<string, unknown>) => string) | undefined, request: { reason?: string; reasonCode?: string; reasonParams?: string }): string {
  if (t && request.reasonCode) {
    const key = `reason.${request.reasonCode}`;
    const text = t(key, { ...(request.reasonParams ? (JSON.parse(request.reasonParams) as Record<string, unknown>) : {}), defaultValue: '' });
    if (text && text !== key) return text;
  }
  return request.reason ?? '';
}
