import { z } from 'zod';
import { describeSpecialPurpose, IpInputError, parseAddress, specialPurpose } from '../../domain/ip.js';
import type { FieldErrors } from '../../errors.js';

/** A public IP address a sender could be listed under: valid, and not a special-purpose one. */
export const publicIp = z.string().trim().min(1, 'Enter the IP address from the bounce message.').max(100, 'This is too long for an IP address.').transform((value, ctx) => {
  try {
    const addr = parseAddress(value);
    const special = specialPurpose(addr);
    if (special) {
      ctx.addIssue({ code: 'custom', message: describeSpecialPurpose(special) });
      return z.NEVER;
    }
    return addr.text;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: err instanceof IpInputError ? err.message : 'This is not a valid IP address.' });
    return z.NEVER;
  }
});

export const delistForm = z.object({
  email: z
    .string()
    .trim()
    .min(1, 'Enter the email address that received the bounce message.')
    .max(254, 'This is too long for an email address.')
    .pipe(z.email({ message: 'Enter a valid email address, like postmaster@example.com.' }))
    .transform((e) => e.toLowerCase()),
  ip: publicIp,
});

export type DelistForm = z.infer<typeof delistForm>;

/** Parses a form body; on failure gives one readable message per field. */
export function parseForm<T extends z.ZodType>(schema: T, body: unknown): { ok: true; value: z.infer<T> } | { ok: false; fields: FieldErrors } {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return { ok: true, value: parsed.data };
  const fields: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const key = String(issue.path[0] ?? 'form');
    fields[key] ??= issue.code === 'invalid_type' ? 'This field is required.' : issue.message;
  }
  return { ok: false, fields };
}

/** What the user typed, as plain strings for re-display (escaped by the view). */
export function echo(body: unknown, names: string[]): Record<string, string> {
  const b = (body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(names.map((n) => [n, typeof b[n] === 'string' ? (b[n] as string).slice(0, 300) : '']));
}
