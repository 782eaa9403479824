import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import type { OutgoingMail } from './mailer.js';
import { isLanguage, translator } from '../i18n/index.js';

const EMAIL_VIEWS = fileURLToPath(new URL('../../views/emails/', import.meta.url));

/** Wraps prose at `width` columns; a single word longer than that (a link) keeps its own line. */
export function wrapText(text: string, width = 72): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= width) return line;
      const indent = /^\s*/.exec(line)![0];
      const out: string[] = [];
      let current = '';
      for (const word of line.trim().split(/\s+/)) {
        if (current && (current + ' ' + word).length > width) {
          out.push(current);
          current = indent + word;
        } else current = current ? `${current} ${word}` : indent + word;
      }
      if (current) out.push(current);
      return out.join('\n');
    })
    .join('\n');
}

/** The content of a rendered HTML template: what is inside its <body> when it brings a whole document of its own. */
const contentOf = (html: string) => /<body[^>]*>([\s\S]*)<\/body>/i.exec(html)?.[1] ?? html;

/**
 * Renders views/emails/<name>.text.ejs and .html.ejs with the same data; the subject is the text template's first
 * line. The HTML template gives the content only: every mail shares views/emails/layout.html.ejs around it (the
 * operator's name as a header, a readable width; the footer partial is each template's own last line).
 */
export async function renderMail(name: string, to: string, data: Record<string, unknown>, lang = 'en'): Promise<OutgoingMail> {
  const language = isLanguage(lang) ? lang : 'en';
  const withT = { ...data, t: translator(language), lang: language };
  const [textRaw, content] = await Promise.all([
    ejs.renderFile(path.join(EMAIL_VIEWS, `${name}.text.ejs`), withT, { async: false }),
    ejs.renderFile(path.join(EMAIL_VIEWS, `${name}.html.ejs`), withT, { async: false }),
  ]);
  const [subjectLine, ...body] = String(textRaw).split('\n');
  const subject = subjectLine!.replace(/^Subject:\s*/, '').trim();
  const html = await ejs.renderFile(path.join(EMAIL_VIEWS, 'layout.html.ejs'), { ...withT, subject, body: contentOf(String(content)) }, { async: false });
  return { to, subject, text: wrapText(body.join('\n').trim()) + '\n', html: String(html) };
}
