/**
 * What web and worker share about jobs: queue names, job names and payloads. Payloads carry ids, never
 * personal data: the processor reads the rest from the stores.
 */
export const QUEUES = { requests: 'requests', mail: 'mail', maintenance: 'maintenance' } as const;

export const JOBS = { delist: 'delist', ingestReport: 'ingest-report', sendMail: 'send-mail', expireEntry: 'expire-entry' } as const;

/** Jobs of the `requests` queue: both carry the id of a portal request. */
export interface DelistJob {
  requestId: string;
}
export interface IngestReportJob {
  requestId: string;
}

export type MailKind = 'delist-challenge' | 'delist-result' | 'report-challenge' | 'report-ack' | 'unblock-challenge' | 'staff-reply' | 'request-closed';

export interface SendMailJob {
  kind: MailKind;
  requestId: string;
  /** staff-reply: the id of the ticket event that holds the text (the job itself carries no text). */
  ref?: string;
}

/**
 * Removes a time-bound routing entry (a listing or a pool assignment) when it expires, if it is still the same
 * entry: `stamp` is when it was made (listedAt / assignedAt), so a renewed entry is left alone.
 */
export interface ExpireEntryJob {
  dataset: 'blocklist' | 'assignments' | 'restrictions';
  key: string;
  stamp: string;
}
