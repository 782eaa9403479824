import { z } from 'zod';

export const CATEGORIES = ['spam', 'phishing', 'malware', 'other'] as const;

/** The report form; messages are keys the views translate (src/i18n/locales/*.json, `errors.*`). */
export const reportForm = z.object({
  email: z
    .string()
    .trim()
    .min(1, 'errors.email.requiredReport')
    .max(254, 'errors.email.tooLong')
    .pipe(z.email({ message: 'errors.email.invalidYou' }))
    .transform((e) => e.toLowerCase()),
  category: z.enum(CATEGORIES, { message: 'errors.category.choose' }),
  comment: z.string().max(2000, 'errors.comment.tooLong').optional().default(''),
  raw: z.string().optional().default(''),
});
