import { z } from 'zod';

export const CATEGORIES = ['spam', 'phishing', 'malware', 'other'] as const;

export const reportForm = z.object({
  email: z
    .string()
    .trim()
    .min(1, 'Enter your email address: we send you a link to confirm the report.')
    .max(254, 'This is too long for an email address.')
    .pipe(z.email({ message: 'Enter a valid email address, like you@example.com.' }))
    .transform((e) => e.toLowerCase()),
  category: z.enum(CATEGORIES, { message: 'Choose what kind of mail this is.' }),
  comment: z.string().max(2000, 'Keep the comment under 2000 characters.').optional().default(''),
  raw: z.string().optional().default(''),
});
