/**
 * What web and worker share about jobs: queue names, job names and payloads. Payloads carry ids, never
 * personal data: the processor reads the rest from the stores.
 */
export const QUEUES = { requests: 'requests', mail: 'mail', maintenance: 'maintenance' } as const;

export const JOBS = { delist: 'delist', sendMail: 'send-mail', expireListing: 'expire-listing' } as const;

export interface DelistJob {
  requestId: string;
}

export type MailKind = 'delist-challenge' | 'delist-result';

export interface SendMailJob {
  kind: MailKind;
  requestId: string;
}

/** Removes a listing when it expires, if it is still the same listing (identified by when it was listed). */
export interface ExpireListingJob {
  cidr: string;
  listedAt: string;
}
