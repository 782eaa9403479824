/**
 * What web and worker share about jobs: queue names, job names and payloads. Payloads carry ids, never
 * personal data: the processor reads the rest from the stores.
 */
export const QUEUES = { requests: 'requests', mail: 'mail' } as const;

export const JOBS = { delist: 'delist', sendMail: 'send-mail' } as const;

export interface DelistJob {
  requestId: string;
}

export type MailKind = 'delist-challenge' | 'delist-result';

export interface SendMailJob {
  kind: MailKind;
  requestId: string;
}
