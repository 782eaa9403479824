import { readFileSync } from 'node:fs';
import type { Request, RequestHandler, Response } from 'express';
import i18next, { type TFunction } from 'i18next';

export const LANGUAGES = ['en', 'ko', 'zh-TW'] as const;
export type Language = (typeof LANGUAGES)[number];
export const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', ko: '한국어', 'zh-TW': '繁體中文' };
export const LANGUAGE_COOKIE = 'pm_lang';
const COOKIE = LANGUAGE_COOKIE;

const load = (lng: Language) => JSON.parse(readFileSync(new URL(`./locales/${lng}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

/** One i18next instance for the process, loaded synchronously from the bundled JSON files. */
const instance = i18next.createInstance();
await instance.init({
  resources: Object.fromEntries(LANGUAGES.map((l) => [l, { translation: load(l) }])),
  fallbackLng: 'en',
  supportedLngs: [...LANGUAGES],
  interpolation: { escapeValue: false },
  returnNull: false,
  initAsync: false,
});

export const isLanguage = (v: unknown): v is Language => typeof v === 'string' && (LANGUAGES as readonly string[]).includes(v);

/** A translator for one language (the views escape its output like any other value). */
export function translator(lng: Language): TFunction {
  return instance.getFixedT(lng);
}

/** Accept-Language → the best of our languages (q-values honoured; zh, zh-Hant, zh-HK map to zh-TW). */
export function fromAcceptLanguage(header: string | undefined): Language {
  if (!header) return 'en';
  const ranked = header
    .split(',')
    .map((part) => {
      const [tag, ...params] = part.trim().split(';');
      const q = Number(params.find((p) => p.trim().startsWith('q='))?.trim().slice(2) ?? 1);
      return { tag: (tag ?? '').toLowerCase(), q: Number.isFinite(q) ? q : 0 };
    })
    .filter((x) => x.tag && x.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { tag } of ranked) {
    if (tag.startsWith('ko')) return 'ko';
    if (tag.startsWith('zh')) return 'zh-TW';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}

type SwitcherEntry = { code: Language; name: string; current: boolean; href?: string };

/**
 * The switcher's links for a page: the same path (a relative link of the query alone) with the page's own query
 * kept, its `lang` replaced, so switching never loses a lookup or a prefilled form. A query we cannot read (or an
 * unusually long one) is dropped rather than copied.
 */
export function switcherFor(entries: ReadonlyArray<SwitcherEntry>, originalUrl: string): SwitcherEntry[] {
  const q = originalUrl.indexOf('?');
  let rest = '';
  if (q >= 0 && originalUrl.length - q <= 2048) {
    try {
      const params = new URLSearchParams(originalUrl.slice(q + 1));
      params.delete('lang');
      rest = params.toString();
    } catch {
      rest = '';
    }
  }
  return entries.map((e) => ({ ...e, href: `?${rest ? `${rest}&` : ''}lang=${encodeURIComponent(e.code)}` }));
}

type PageLocals = { t: TFunction; languages: ReadonlyArray<{ code: Language; name: string; current: boolean }> };
let pageLocals: Record<Language, PageLocals> | undefined;
/** What the views get for each language, made once: a fixed translator and the switcher's entries. */
function localsFor(lang: Language): PageLocals {
  pageLocals ??= Object.fromEntries(
    LANGUAGES.map((l) => [l, { t: translator(l), languages: Object.freeze(LANGUAGES.map((c) => Object.freeze({ code: c, name: LANGUAGE_NAMES[c], current: c === l }))) }]),
  ) as Record<Language, PageLocals>;
  return pageLocals[lang];
}

function setPageLanguage(req: Request, res: Response, lang: Language): void {
  const l = localsFor(lang);
  res.locals.lang = lang;
  res.locals.t = l.t;
  res.locals.languages = switcherFor(l.languages, req.originalUrl);
}

/**
 * Picks the language of a public page: `?lang=` from the switcher (kept in a cookie), else the cookie, else
 * Accept-Language. Views get `t`, `lang` and the switcher's links. `res.locals.langChosen` says whether the visitor
 * chose it (query or cookie) rather than their browser's header (see useRequestLanguage).
 */
export function languageMiddleware(https: boolean): RequestHandler {
  return (req, res, next) => {
    const asked = req.query.lang;
    let lang: Language;
    let chosen = true;
    if (isLanguage(asked)) {
      lang = asked;
      res.cookie(COOKIE, lang, { httpOnly: true, sameSite: 'lax', secure: https, path: '/', maxAge: 365 * 86_400_000 });
    } else if (isLanguage(req.cookies?.[COOKIE])) lang = req.cookies[COOKIE] as Language;
    else {
      lang = fromAcceptLanguage(req.get('accept-language'));
      chosen = false;
    }
    res.locals.langChosen = chosen;
    setPageLanguage(req, res, lang);
    // Only a GET or HEAD answer can be cached, so only those say that they vary by language.
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') res.vary('Accept-Language');
    next();
  };
}

/**
 * A page about one request (its confirm and status pages) is in the language the request was made in, unless the
 * visitor chose one (the switcher's `?lang=`, which the mailed links also carry, or its cookie): a link opened on
 * another device, whose browser asks for English, still reads as the request was written.
 */
export function useRequestLanguage(req: Request, res: Response, requestLang: string | undefined | null): void {
  if (res.locals.langChosen || !isLanguage(requestLang) || requestLang === res.locals.lang) return;
  setPageLanguage(req, res, requestLang);
}

/** A mailed link to one of our pages, carrying the request's language (`?lang=`, as the switcher does). */
export function withLang(url: string, lang: string | undefined | null): string {
  if (!isLanguage(lang)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}lang=${encodeURIComponent(lang)}`;
}

/**
 * The language of a request before the middleware ran (errors raised early): the cookie, else Accept-Language.
 * Never throws: a cookie that is not one of our language codes (malformed percent-encoding included) is ignored.
 */
export function languageOf(cookieHeader: string | undefined, acceptLanguage: string | undefined): Language {
  const fromCookie = /(?:^|;\s*)pm_lang=([^;]{1,20})(?:;|$)/.exec(cookieHeader ?? '')?.[1];
  let decoded: string | undefined;
  try {
    decoded = fromCookie ? decodeURIComponent(fromCookie) : undefined;
  } catch {
    decoded = undefined;
  }
  return isLanguage(decoded) ? decoded : fromAcceptLanguage(acceptLanguage);
}
