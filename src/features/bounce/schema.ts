import { z } from 'zod';

/** The textarea's maxlength: a browser cuts a longer paste there (the top of a bounce message is the part that counts). */
export const BOUNCE_TEXTAREA_MAX = 50_000;

/**
 * The largest form body POST /bounce reads. 50 000 characters sent by a browser take at most 9 bytes each
 * URL-encoded (a 3-byte UTF-8 character as %XX%XX%XX), and line ends grow to `%0D%0A`: 512 kB holds any paste the
 * textarea allows. Anything larger is a 413 (bounce/too-large.ejs) before a byte of it is parsed.
 */
export const BOUNCE_BODY_LIMIT_BYTES = 512 * 1024;

export const bounceForm = z.object({
  text: z.string().refine((s) => s.trim().length > 0, 'bounce.errors.required'),
});
