import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Per-ticket reply addresses: staff mails carry `Reply-To: ticket+<ticket id>.<code>@<reply domain>`, where the code
 * is an HMAC of the ticket id with the portal's secret, so an address cannot be made up for a ticket (or guessed from
 * another). The SMTP intake reads the recipient back (`readReplyAddress`) and files the answer in the ticket.
 *
 * The code is 20 lower-case hex digits (80 bits): a local part stays within 64 characters for every ticket id the
 * portal makes (`t-<16>`, `case-<16>`, `c-<16>`), and a mail system that lowers the case of the code changes nothing.
 */
export interface ReplyAddressing {
  secret: string;
  domain: string;
}

const PREFIX = 'ticket+';
const CODE_LENGTH = 20;
const TICKET_ID = /^[A-Za-z0-9_-]{1,36}$/;

const codeOf = (secret: string, ticketId: string) => createHmac('sha256', secret).update(`reply-address:${ticketId}`).digest('hex').slice(0, CODE_LENGTH);

/** The reply address of a ticket; null for an id too long to fit a local part (then the mail has no Reply-To). */
export function replyAddressFor(a: ReplyAddressing, ticketId: string): string | null {
  if (!TICKET_ID.test(ticketId)) return null;
  return `${PREFIX}${ticketId}.${codeOf(a.secret, ticketId)}@${a.domain}`;
}

/**
 * What a recipient address is to the intake: `none` when it is not a reply address at all (another mailbox, another
 * domain), `forged` when it has the form but its code does not match (or its id cannot be one), else the ticket.
 */
export type ReplyRecipient = { kind: 'none' } | { kind: 'forged' } | { kind: 'ticket'; ticketId: string };

export function readReplyAddress(a: ReplyAddressing, address: string): ReplyRecipient {
  const at = address.lastIndexOf('@');
  if (at < 0 || address.slice(at + 1).toLowerCase() !== a.domain.toLowerCase()) return { kind: 'none' };
  const local = address.slice(0, at);
  if (local.slice(0, PREFIX.length).toLowerCase() !== PREFIX) return { kind: 'none' };
  const m = /^([A-Za-z0-9_-]{1,36})\.([0-9A-Fa-f]{20})$/.exec(local.slice(PREFIX.length));
  if (!m) return { kind: 'forged' };
  const [, ticketId, code] = m as unknown as [string, string, string];
  const expected = Buffer.from(codeOf(a.secret, ticketId));
  const given = Buffer.from(code.toLowerCase());
  return timingSafeEqual(expected, given) ? { kind: 'ticket', ticketId } : { kind: 'forged' };
}

/**
 * The new part of an answer: the lines before the quoted history (the first "On … wrote:" line, a line of `>`
 * quotes, or the "-----Original Message-----" / "From: " block of Outlook), trimmed. The whole text when nothing
 * before the history is left.
 */
export function trimQuotedHistory(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const cut = lines.findIndex(
    (line, i) =>
      /^>/.test(line) ||
      /^-{2,}\s*(Original Message|Ursprüngliche Nachricht|원본 메시지|原始郵件)\s*-{2,}/i.test(line.trim()) ||
      /^(On|Le|Am|El)\s.{3,200}(wrote|écrit|schrieb|escribió):\s*$/i.test(line.trim()) ||
      /^20\d\d[-./년年].{0,200}(작성|寫道|写道)/.test(line.trim()) ||
      (/^(From|보낸 사람|寄件者|发件人):\s/.test(line) && i > 0 && lines[i - 1]!.trim() === '' && /^(Sent|Date|보낸 날짜|傳送時間|日期|发送时间):\s/.test(lines[i + 1] ?? '')),
  );
  const kept = (cut >= 0 ? lines.slice(0, cut) : lines).join('\n').trim();
  return kept || text.trim();
}
