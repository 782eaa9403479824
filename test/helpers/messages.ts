/** Builds real-shaped messages that left through our normal pool, for tests of intake and escalation. */
export function messageFromTenant(opts: { tenant: string; messageId: string; ip?: string; subject?: string; bodyBytes?: number; from?: string; mailFrom?: string }): string {
  const ip = opts.ip ?? '203.0.113.10';
  const body = 'Buy cheap watches now! '.repeat(Math.ceil((opts.bodyBytes ?? 200) / 23)).slice(0, opts.bodyBytes ?? 200);
  return [
    'Received: from mx.recipient.example.org (mx.recipient.example.org [192.0.2.10])',
    '\tby mailbox.recipient.example.org with LMTP; Mon, 16 Nov 2026 10:00:02 +0000',
    `Received: from o12.outbound.example.net (o12.outbound.example.net [${ip}])`,
    '\tby mx.recipient.example.org (Postfix) with ESMTPS id 4A1B2C3D4E',
    '\tfor <victim@recipient.example.org>; Mon, 16 Nov 2026 10:00:01 +0000',
    'Received: from sender-host.example.com (sender-host.example.com [198.51.100.77])',
    '\tby o12.outbound.example.net with ESMTP id 1a2b3c; Mon, 16 Nov 2026 09:59:59 +0000',
    `Return-Path: <${opts.mailFrom ?? 'bounces@mailer.example.com'}>`,
    `X-Tenant-Id: ${opts.tenant}`,
    `From: "Deals" <${opts.from ?? 'deals@shop.example.com'}>`,
    'To: victim@recipient.example.org',
    `Subject: ${opts.subject ?? 'Cheap watches'}`,
    'Date: Mon, 16 Nov 2026 09:59:58 +0000',
    `Message-ID: ${opts.messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    body,
    '',
  ].join('\r\n');
}

/** A message that never passed through our pools. */
export const foreignMessage = [
  'Received: from mail.elsewhere.example (mail.elsewhere.example [198.51.100.200])',
  '\tby mx.recipient.example.org with ESMTP id X; Mon, 16 Nov 2026 10:00:01 +0000',
  'From: someone@elsewhere.example',
  'To: victim@recipient.example.org',
  'Subject: not ours',
  'Message-ID: <foreign-1@elsewhere.example>',
  'Date: Mon, 16 Nov 2026 09:59:58 +0000',
  '',
  'hello',
  '',
].join('\r\n');
