import { z } from 'zod';
import { IpInputError, parseAddress, specialPurpose } from '../../domain/ip.js';
import { normalizeIpInput } from '../../domain/ip-input.js';
import type { FieldErrors } from '../../errors.js';

/** The special-purpose ranges we have a message for (src/domain/ip.ts); any other name reads as `other`. */
const SPECIAL_NAMES = new Set(['private', 'loopback', 'link-local', 'multicast', 'unspecified', 'shared', 'unique-local', 'broadcast', 'reserved']);

/**
 * The message key for an IP the parser refused: `errors.ip.<reason>`, with two common mistakes of the `invalid`
 * kind named on their own. The views translate it (English in en.json, from src/domain/ip.ts's messages).
 */
export function ipErrorKey(err: unknown, input: string): string {
  if (!(err instanceof IpInputError)) return 'errors.ip.invalid';
  if (err.reason === 'invalid') {
    const text = input.trim();
    if (text.startsWith('[') || text.endsWith(']')) return 'errors.ip.brackets';
    if (/^[\d.]+$/.test(text) && /(^|\.)0\d/.test(text)) return 'errors.ip.leading-zeros';
  }
  return `errors.ip.${err.reason}`;
}

/** The message key for a special-purpose address: `errors.ip.special.<name>` (describeSpecialPurpose in English). */
export const specialPurposeKey = (name: string) => `errors.ip.special.${SPECIAL_NAMES.has(name) ? name : 'other'}`;

/**
 * A public IP address a sender could be listed under: valid, and not a special-purpose one. Messages are keys.
 * Full-width digits, full stops and colons and the ideographic full stop (IME input) are made ASCII first.
 */
export const publicIp = z.string().max(400, 'errors.ip.tooLong').transform((v) => normalizeIpInput(v)).pipe(z.string().trim().min(1, 'errors.ip.required').max(100, 'errors.ip.tooLong').transform((value, ctx) => {
  try {
    const addr = parseAddress(value);
    const special = specialPurpose(addr);
    if (special) {
      ctx.addIssue({ code: 'custom', message: specialPurposeKey(special) });
      return z.NEVER;
    }
    return addr.text;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: ipErrorKey(err, value) });
    return z.NEVER;
  }
}));

export const delistForm = z.object({
  email: z
    .string()
    .trim()
    .min(1, 'errors.email.requiredBounce')
    .max(254, 'errors.email.tooLong')
    .pipe(z.email({ message: 'errors.email.invalidPostmaster' }))
    .transform((e) => e.toLowerCase()),
  ip: publicIp,
});

export type DelistForm = z.infer<typeof delistForm>;

/** Parses a form body; on failure gives one message key per field (the views translate it with `t`). */
export function parseForm<T extends z.ZodType>(schema: T, body: unknown): { ok: true; value: z.infer<T> } | { ok: false; fields: FieldErrors } {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return { ok: true, value: parsed.data };
  const fields: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const key = String(issue.path[0] ?? 'form');
    fields[key] ??= issue.code === 'invalid_type' ? 'errors.required' : issue.message;
  }
  return { ok: false, fields };
}

/** What the user typed, as plain strings for re-display (escaped by the view). */
export function echo(body: unknown, names: string[]): Record<string, string> {
  const b = (body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(names.map((n) => [n, typeof b[n] === 'string' ? (b[n] as string).slice(0, 300) : '']));
}
