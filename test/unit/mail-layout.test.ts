import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import PostalMime from 'postal-mime';
import nodemailer from 'nodemailer';
import { renderMail } from '../../src/mail/render.js';
import { englishRuns } from '../helpers/english.js';

const EMAILS = fileURLToPath(new URL('../../views/emails/', import.meta.url));
const TEMPLATES = readdirSync(EMAILS).filter((f) => f.endsWith('.text.ejs')).map((f) => f.replace(/\.text\.ejs$/, ''));

const OPERATOR = { name: 'Contoso Mail & Hosting', contact: 'abuse@contoso.example', privacyUrl: 'https://contoso.example/privacy' };
const DATA = {
  ip: '198.51.100.7', publicUrl: 'http://portal.test', operator: OPERATOR, ttlMinutes: 60, confirmUrl: 'http://portal.test/delist/confirm/x',
  statusUrl: 'http://portal.test/status/x', contactUrl: 'http://portal.test/contact?request=x', state: 'closed', stateLabel: 'Closed',
  reason: 'Answered on the phone.', hasReason: true, reasonCode: '', reasonParams: {}, update: 'need-info', text: 'Which server software do you run?', kind: 'contact',
};

describe('mail layout: every mail shares one branded HTML layout', () => {
  it('finds every template with both parts (views/emails)', () => {
    assert.ok(TEMPLATES.length >= 7, TEMPLATES.join(', '));
    for (const name of TEMPLATES) assert.ok(readdirSync(EMAILS).includes(`${name}.html.ejs`), `${name} has an HTML part`);
  });

  for (const name of TEMPLATES) {
    it(`${name}: text and HTML parts, the operator's name in both, one document in the layout`, async () => {
      for (const lang of ['en', 'ko', 'zh-TW']) {
        const mail = await renderMail(name, 'someone@example.org', DATA, lang);
        assert.ok(mail.text.trim() && mail.html.trim(), `${lang}: both parts`);
        assert.ok(mail.text.includes(OPERATOR.name), `${lang} text names the operator`);
        assert.equal(mail.html.match(/<html/g)?.length, 1, `${lang}: one document, the template's content inside the layout`);
        assert.match(mail.html, new RegExp(`<html lang="${lang}">`));
        assert.match(mail.html, /max-width: 600px/);
        assert.ok(mail.html.includes('Contoso Mail &amp; Hosting'), `${lang}: the operator's name, escaped, in the HTML`);
        // The header is the operator's name; the template's own content and footer follow it.
        const header = mail.html.indexOf('Contoso Mail &amp; Hosting');
        assert.ok(header > 0 && header < mail.html.indexOf('</td></tr>'), `${lang}: the operator's name heads the mail`);
        assert.ok(mail.html.indexOf('http://portal.test') > header);
        // The footer's link home opens in the mail's language.
        assert.ok(mail.html.includes(`href="http://portal.test/?lang=${lang}"`), `${lang}: the HTML footer's home link carries the language`);
        assert.ok(mail.text.includes(`http://portal.test/?lang=${lang}`), `${lang}: so does the text footer's`);
        // As a mail client receives it: multipart/alternative with both parts.
        const built = await nodemailer.createTransport({ streamTransport: true, buffer: true }).sendMail({ from: 'p@portal.test', ...mail });
        const read = await PostalMime.parse(built.message as Buffer);
        assert.ok(read.text?.includes(OPERATOR.name) && read.html?.includes('Contoso Mail &amp; Hosting'), `${lang}: both parts on the wire`);
      }
    });
  }

  it('names the portal when no operator name is configured, in the mail\'s language', async () => {
    const mail = await renderMail('staff-reply', 'a@example.org', { ...DATA, operator: { contact: 'x@example.org' } }, 'ko');
    assert.doesNotMatch(mail.html, /Contoso/);
    assert.match(mail.html, /<title>[^<]+<\/title>/);
  });

  it('writes no English sentence into a ko or zh-TW mail (the layout and the request-closed mail included)', async () => {
    const data = { ...DATA, operator: { ...OPERATOR, name: 'Contoso Mail Hosting' }, reason: 'We confirmed the abuse you reported and acted on the sender.', reasonCode: 'report-acted', kind: 'report', text: '어떤 서버 소프트웨어를 쓰세요?' };
    for (const lang of ['ko', 'zh-TW']) {
      for (const name of TEMPLATES) {
        const mail = await renderMail(name, 'a@example.org', data, lang);
        assert.deepEqual([mail.subject, mail.text, mail.html].flatMap((part) => englishRuns(part, ['Contoso Mail Hosting'])), [], `${lang} ${name}`);
      }
    }
    // The check can fail: the same mail in English is all English.
    assert.ok(englishRuns((await renderMail('request-closed', 'a@example.org', data, 'en')).html, ['Contoso Mail Hosting']).length > 0);
  });
});
