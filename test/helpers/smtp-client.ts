import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface Reply {
  code: number;
  lines: string[];
  text: string;
}

/**
 * A raw SMTP dialogue over node:net, for tests that behave the way a hostile or broken client does (resets, bytes
 * where a TLS handshake belongs, one byte every few seconds) — things a real mail client library never sends.
 */
export class SmtpDialog {
  private buffer = '';
  private lines: string[] = [];
  private readonly replies: Reply[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(public socket: net.Socket | tls.TLSSocket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.attach(socket);
  }

  /** Connects and waits for the greeting (or whatever the server answers first). */
  static async open(port: number, opts: { localAddress?: string } = {}): Promise<{ dialog: SmtpDialog; greeting: Reply }> {
    const socket = net.connect({ port, host: '127.0.0.1', ...(opts.localAddress && { localAddress: opts.localAddress }) });
    const dialog = new SmtpDialog(socket);
    return { dialog, greeting: await dialog.reply() };
  }

  private attach(socket: net.Socket | tls.TLSSocket) {
    socket.on('error', () => {}); // resets are what these tests provoke; 'close' tells the rest
    socket.on('data', (d: Buffer) => {
      this.buffer += d.toString('latin1');
      let i: number;
      while ((i = this.buffer.indexOf('\r\n')) !== -1) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        this.lines.push(line);
        if (/^\d{3}(?: |$)/.test(line)) {
          this.replies.push({ code: Number(line.slice(0, 3)), lines: this.lines, text: this.lines.join('\n') });
          this.lines = [];
        }
      }
      this.wake();
    });
    socket.once('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next complete reply; rejects when the connection closes first or nothing comes within the time. */
  async reply(timeoutMs = 5000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const next = this.replies.shift();
      if (next) return next;
      if (this.ended) throw new Error('connection closed without a reply');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  write(raw: string | Buffer) {
    this.socket.write(raw);
  }

  async command(line: string, timeoutMs?: number): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** STARTTLS has been answered 220: runs the TLS handshake on the same socket, trusting only `ca`. */
  async upgrade(ca: string): Promise<tls.PeerCertificate> {
    const secure = tls.connect({ socket: this.socket as net.Socket, ca, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return secure.getPeerCertificate();
  }

  /** True when the server closed the connection within the time. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  }

  destroy() {
    this.socket.destroy();
  }
}

/** A self-signed certificate for localhost made with openssl, in a temp dir: the intake's STARTTLS key pair. */
export function makeCertificate(): { dir: string; keyFile: string; certFile: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-smtp-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { dir, keyFile, certFile, cert: readFileSync(certFile, 'utf8') };
}

/** AUTH PLAIN's initial response. */
export const plainAuth = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString('base64');
