/**
 * The attackers of the hostile bench (test/bench/hostile.ts), in a process of their own so their work is not
 * counted on the portal's event loop: `HOSTILE_CLIENTS` clients send the worst hostile samples of issue 13 back to
 * back for `HOSTILE_SECONDS`, each in turn through the API, the web form and the SMTP intake, then print what they
 * got (`HOSTILE_DONE {json}`) and exit. Only to 127.0.0.1.
 */
import http from 'node:http';
import nodemailer from 'nodemailer';
import { arfLines, boundaryLines, foldedLines, gzipBomb, manyAddresses, nestedForwards, tinyHeaders } from '../helpers/hostile.js';

const webPort = Number(process.env.HOSTILE_WEB_PORT);
const smtpPort = Number(process.env.HOSTILE_SMTP_PORT);
const token = process.env.HOSTILE_API_TOKEN ?? '';
const clients = Number(process.env.HOSTILE_CLIENTS ?? 4);
const seconds = Number(process.env.HOSTILE_SECONDS ?? 8);

/** The ~1M boundary-like lines without our hop: read to its end, then refused as not our mail (the costliest refusal). */
const foreignBoundaries = Buffer.from(boundaryLines().toString('latin1').replace(/\[203\.0\.113\.10\]/, '[198.51.100.10]'), 'latin1');
const SAMPLES: Array<[string, Buffer]> = [
  ['boundaryLines', foreignBoundaries],
  ['tinyHeaders', tinyHeaders()],
  ['manyAddresses', manyAddresses()],
  ['foldedLines', foldedLines()],
  ['arfLines', arfLines()],
  ['nestedForwards', nestedForwards(20)],
];
const bomb = gzipBomb();

const agent = new http.Agent({ keepAlive: true, maxSockets: clients * 2 });
function post(path: string, headers: Record<string, string>, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: webPort, method: 'POST', path, agent, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/** The web form's cookie and token. */
async function visitor(): Promise<{ cookie: string; csrf: string }> {
  const page = await fetch(`http://127.0.0.1:${webPort}/report`);
  return { cookie: page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; '), csrf: /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]! };
}

function formBody(csrf: string, sample: Buffer): { type: string; body: Buffer } {
  const b = `hostile${Math.random().toString(36).slice(2)}`;
  const field = (name: string, value: string) => `--${b}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = field('_csrf', csrf) + field('email', 'attacker@example.org') + field('category', 'spam') + `--${b}\r\nContent-Disposition: form-data; name="sample"; filename="x.eml"\r\nContent-Type: message/rfc822\r\n\r\n`;
  return { type: `multipart/form-data; boundary=${b}`, body: Buffer.concat([Buffer.from(head), sample, Buffer.from(`\r\n--${b}--\r\n`)]) };
}

const statuses: Record<string, number> = {};
const count = (key: string) => (statuses[key] = (statuses[key] ?? 0) + 1);

async function client(n: number, end: number): Promise<void> {
  const { cookie, csrf } = await visitor();
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true, pool: false });
  try {
    for (let i = n; Date.now() < end; i++) {
      const channel = i % 3;
      const [, sample] = SAMPLES[Math.floor(i / 3) % SAMPLES.length]!;
      if (channel === 0) {
        const gzip = i % 7 === 0;
        const status = await post('/api/v1/reports', { authorization: `Bearer ${token}`, 'content-type': 'message/rfc822', ...(gzip && { 'content-encoding': 'gzip' }) }, gzip ? bomb : sample);
        count(`api ${status}`);
      } else if (channel === 1) {
        const { type, body } = formBody(csrf, sample);
        count(`web ${await post('/report', { cookie, 'content-type': type }, body)}`);
      } else {
        const code = await transport.sendMail({ envelope: { from: 'attacker@example.org', to: ['abuse@portal.example.net'] }, raw: sample }).then(
          () => 250,
          (err: { responseCode?: number }) => err.responseCode ?? 0,
        );
        count(`smtp ${code}`);
      }
    }
  } finally {
    transport.close();
  }
}

const end = Date.now() + seconds * 1000;
process.stdout.write('HOSTILE_RUNNING\n');
await Promise.all(Array.from({ length: clients }, (_, n) => client(n, end)));
agent.destroy();
process.stdout.write(`HOSTILE_DONE ${JSON.stringify(statuses)}\n`);
process.exit(0);
