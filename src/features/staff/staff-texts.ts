import { translator } from '../../i18n/index.js';

/**
 * Our reply texts: what staff often write to a requester, in every language (`staffText.template.<id>` in
 * src/i18n/locales). Staff pick one on the ticket page (for a reply or a refusal's reason) or write their own words;
 * a picked text is kept as its id, so each requester reads it in the language of their request.
 */
export const STAFF_TEXTS = ['looking', 'need-bounce', 'need-changes', 'still-sending', 'evidence-missing', 'cannot-now', 'done'] as const;
export type StaffTextId = (typeof STAFF_TEXTS)[number];

export const isStaffText = (v: unknown): v is StaffTextId => typeof v === 'string' && (STAFF_TEXTS as readonly string[]).includes(v);

/** Words we keep as a message key and its parameters, with their English text (the staff timeline, logs). */
export interface StaffWords {
  text: string;
  key: string;
  params?: Record<string, unknown>;
}

const en = translator('en');

/** A picked reply text (and the staff member's own words after it, if any), as the reply key `staffText.reply`; null when none was picked. */
export function cannedText(id: unknown, note = ''): StaffWords | null {
  if (!isStaffText(id)) return null;
  const params = { template: id, ...(note.trim() && { note: note.trim() }) };
  return { text: en('staffText.reply', withTemplate(en, params)), key: 'staffText.reply', params };
}

/**
 * Parameters with a picked reply text (`template`) turned into words in the reader's language, the staff member's
 * own words (`note`) after it: what `{{note}}` says in a reason or reply.
 */
export function withTemplate(t: (key: string, opts?: Record<string, unknown>) => string, params: Record<string, unknown>): Record<string, unknown> {
  if (!isStaffText(params.template)) return params;
  const canned = t(`staffText.template.${params.template}`);
  const own = typeof params.note === 'string' && params.note ? params.note : '';
  return { ...params, note: own ? `${canned} ${own}` : canned };
}
