import type { Response } from 'supertest';

/** The CSRF token of the first form on a page. */
export function csrfOf(res: Response): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(res.text);
  if (!m) throw new Error(`no CSRF field on the page (status ${res.status})`);
  return m[1]!;
}
