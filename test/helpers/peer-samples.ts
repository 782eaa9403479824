/**
 * The peer corpus of issue 15: real abuse reports from the test data of projects that parse them (AbuseIO,
 * sisimai, Email-ARF, cerberus, the X-ARF specification, abusix's parsers, rspamd). They stay outside the
 * repository (../shared/peer-samples, README.txt there names each file's origin); this helper finds them and holds
 * what a desk expects of each, with a policy per sample whose pools hold that report's sending IP.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetworkPolicy } from '../../src/domain/received.js';
import type { SampleFormat } from '../../src/domain/samples.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The corpus directory: PEER_SAMPLES_DIR, else <repo>/../shared/peer-samples, else /work/shared/peer-samples; null when none exists. */
export function peerSamplesDir(): string | null {
  const candidates = [process.env.PEER_SAMPLES_DIR, path.join(repo, '..', 'shared', 'peer-samples'), '/work/shared/peer-samples'];
  for (const dir of candidates) if (dir && existsSync(path.join(dir, 'README.txt'))) return dir;
  return null;
}

/** Every sample file of the corpus (README.txt left out), sorted. */
export function peerSampleFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f !== 'README.txt')
    .sort();
}

export const readPeerSample = (dir: string, file: string): Buffer => readFileSync(path.join(dir, file));

/** A policy whose only pool holds this one address (the report's sending IP, or for ARF its Source-IP). */
export function policyFor(ip: string): NetworkPolicy {
  return { pools: { normal: [ip.includes(':') ? `${ip}/128` : `${ip}/32`] }, hostSuffix: '.outbound.example.net', tenantHeader: 'X-Tenant-Id' };
}

export interface PeerExpectation {
  sourceIp: string;
  feedbackType: string | null;
  mailFrom: string | null;
  messageId: string | null;
  reportedDomain: string | null;
  format: SampleFormat;
}

/** A sample a desk cannot attribute to a sending IP at all: refused as not our mail, and why. */
export interface PeerRefusal {
  refused: string;
}

const e = (
  sourceIp: string,
  feedbackType: string | null,
  mailFrom: string | null,
  messageId: string | null,
  reportedDomain: string | null,
  format: SampleFormat,
): PeerExpectation => ({ sourceIp, feedbackType, mailFrom, messageId, reportedDomain, format });

/**
 * What a desk expects of each sample: source IP, feedback type, 5321.MailFrom, Message-ID, reported domain, and how
 * it was read. The reference is the peers' own tests (abusix `*.assertions.json` resources.ip, AbuseIO's and
 * sisimai's expected feedback types, Email-ARF's); where we differ, the comment says why.
 */
export const PEER_EXPECTED: Record<string, PeerExpectation | PeerRefusal> = {
  // abusix/inbound-parsers (resources.ip of each .assertions.json).
  'ab--01_marf.eml': e('24.224.217.6', 'abuse', 'tdg_Jackson2112@xxx-xxx-xxxx.xxx', '<3B3E88DBD0042A99454009B4008603B7@xxx-xxx-xxxx.xxx>', null, 'arf'),
  'ab--01_marf.eml_hotmail': e('178.62.214.121', 'auth-failure', 'cmccluregh@unihold.co.za', '<ad7a.75c2-98bfdd1ef4@unihold.co.za>', 'unihold.co.za', 'arf'),
  // Source-IP is written as ::ffff:114.44.62.177 (IPv4 as IPv6); the address is the IPv4 one, as abusix reads it.
  'ab--01_marf.eml_ipv4as6': e('114.44.62.177', 'abuse', 'ustxgjalld6986@tom.com', '<5983318181.037908.0543228645997.JavaMail.nobody@sg1000-ap-4>', null, 'arf'),
  // The original is a text/plain part (email-1.txt); `Reported-Domain: ''` names no domain.
  'ab--01_marf.eml_notype': e('192.185.145.107', 'virus', null, '<32997411351226020126.FC4559863FC5DEE3@[REDACTED_DOMAIN]>', null, 'arf'),
  'ab--01_marf.ephemeron.spam.0.eml': e('46.11.240.1', 'spam', null, '<5FA69A4A.9000608@mail2crazy.com>', null, 'arf'),
  'ab--01_marf.not_spam.eml': e('209.85.128.199', 'not-spam', 'fwecol875-1-f22+bncBC2LRKO45EPRBL5OZGMAMGQE3V22KNY@g-groups.wisc.edu', '<DM6PR06MB437723E0A4413ECC437B0DF3967A9@DM6PR06MB4377.namprd06.prod.outlook.com>', 'g-groups.wisc.edu', 'arf'),
  // Original-Mail-From is written `Cameraboys <Cameraboys@newsletter.jasmin.com>`: the From: copied, not a 5321
  // path. The original's Return-Path (the VERP bounce address abusix lists too) is the envelope sender.
  'ab--01_marf.old.0.eml': e('212.6.134.40', 'abuse', 'bounce-hdh3vfe5bp5vdvuf7cabtsdjrtd5gqsxhtsq74a@newsletter.jasmin.com', '<42d25c37-a995-49b2-8132-258b490cd053@newsletter.jasmin.com>', 'newsletter.jasmin.com', 'arf'),
  // Return-Path: <> (a null sender) and no Message-ID in the headers NiX Spam sends.
  'ab--01_marf.old.12.eml': e('83.216.231.109', 'abuse', null, null, null, 'arf'),
  'ab--01_marf.old.14.eml': e('111.179.75.99', 'auth-failure', 'axvrlwuom@datev.de', '<20140211202238845557@datev.de>', 'datev.de', 'arf'),
  // multipart/mixed carrying message/feedback-report (telenor).
  'ab--01_marf.old.21.eml': e('193.212.103.124', 'abuse', 'Georgia77@bigbillybarrettmazda.dealerspace.com', '<C53F7D30FF2B0665B9BCF54D896B248D@bigbillybarrettmazda.dealerspace.com>', 'rufos.ru', 'arf'),
  'ab--01_marf.old.23.eml': e('94.79.190.166', 'fraud', 'bkgarant@mail.ru', '<4311436301.FWC6D64E334675@tkfrdcnfckel.bcvxq.org>', null, 'arf'),
  'ab--01_marf.old.26.eml': e('212.6.134.6', 'abuse', 'bounce-hdh3vfe5bp5vc5vfixzm266vnp4x3u2ju67fyja@news.trade4less.de', '<25345358-081b-4ce8-bb98-c07a56db2400@news.trade4less.de>', 'news.trade4less.de', 'arf'),
  'ab--01_marf.old.31.eml': e('212.6.174.108', 'abuse', 'bounce-hdh3vfe5bp5vczawnap2xubon6fbhfgkpqsq4li@infomail.lagerverkaufsmode.de', '<cf1cad46-541e-413d-ba7c-f4be72454a6f@infomail.lagerverkaufsmode.de>', null, 'arf'),
  'ab--01_marf.old.7.eml': e('83.216.229.168', 'abuse', '9164b5b@pousadamagiadomar.com', '<B0E1________________________________________________________B7D6@PC>', null, 'arf'),
  // Rejected at RCPT TO: no original, only the report's fields.
  'ab--01_marf.spfbl.0.eml': e('102.165.15.21', 'abuse', 'semparar-angelalima=net11.com.br@m-semparar.com.br', null, null, 'arf'),
  'ab--02_xarf.old.0.eml': e('176.198.140.68', 'harvesting', null, null, null, 'xarf'),
  'ab--02_xarf.old.2.eml': e('83.216.255.106', 'spam', 'a248a26b@adsl-dyn-255-106.heliweb.de', '<FF1A8B99D20BA366AE3D21BC77051DE-920998FC12F2006A46DB7843E934EA81@adsl-dyn-255-106.heliweb.de>', null, 'xarf'),
  // A JMRP complaint forwarded by Synacor: the complained-of message is two message/rfc822 levels deep.
  'ab--hotmail.old.0.eml': e('205.169.121.111', 'abuse', 'cbboys1@q.com', '<962700832.4142762.1392395385699.JavaMail.root@md45.quartz.synacor.com>', null, 'jmrp'),
  'ab--hotmail.spam.0.eml': e('213.75.39.8', 'abuse', 'sonderkamp@kpnmail.nl', '<vr, 11 okt 2019 12:04:05 +0200T12:04:05.115@sonderkamp.info>', null, 'jmrp'),
  'ab--hotmail.spam.1.eml': e('94.231.103.195', 'abuse', '1f2e3eac822be9eb09e768a5cedadb643@geoinformatic.dk', '<4vwE92izyFqFkEJuPRFHrnixpfHt7t1pqhWD2MvNzY@tankestol.dk>', null, 'jmrp'),
  'ab--spamcop.0.eml': e('178.200.164.219', 'abuse', 'Schroeder.27754@hsi07.unitymediagroup.de', '<6cad3b0c911d9d3f713d88131918e962@ecton.org>', null, 'spamcop'),
  // SpamCop in ARF form; the pasted original lost its folding and has an empty line inside its second Received
  // field, so its header block ends there: Message-ID and Return-Path are past it (abusix reads no more either).
  // The first Received reads `(2603: 10b6:a03:100::39)` on a line of its own: that is 2603:10b6:a03:100::39.
  'ab--spamcop.spamvertized.2.eml': e('2603:10b6:a03:100::39', 'abuse', null, null, null, 'arf'),
  // ARF of Feedback-Type xarf carrying X-ARF v3 JSON; its sample's headers are redacted (no Message-ID).
  'ab--xarf2event.01_marf.xarf_version3_test.eml': e('141.95.129.72', 'spam', 'services=launch.iainformatics.com@bounces.launch.iainformatics.com', null, null, 'xarf-json'),

  // AbuseIO feedback-loop samples: the ARF Source-IP (anonymised to 10.17.18.x) is the source AbuseIO reports.
  'aio--AOL_example_1.eml': e('10.17.18.1', 'abuse', 'tecnic2@domain4.tld', '<20160119143236.14076@une.com.co>', 'server.domain5.tld', 'arf'),
  'aio--AOL_example_2.eml': e('10.17.18.2', 'abuse', 'krystal_moran@domain3.tld', '<98b0f5d26a1aaddccf633f006f073231@domain3.tld>', 'server.domain4.tld', 'arf'),
  'aio--Blocklistde_Example_1.eml': e('10.0.2.150', 'regbot', null, null, null, 'xarf'),
  'aio--Bluetie_example_1.eml': e('10.17.18.3', 'abuse', 'madeleine_barry@domain3.tld', '<f690adc-cf090-87@domain3.tld>', 'excite.com', 'arf'),
  'aio--Cleanmx_Example_1.eml': e('192.168.2.20', 'harvesting', null, null, null, 'xarf'),
  'aio--Comcast_example_1.eml': e('10.17.18.5', 'abuse', 'mailer@domain3.tld', '<987965a01e99875b505a4bbef8b85b0a@relay4.domain3.tld>', 'comcast.net', 'arf'),
  // Two Message-IDs: Cox's own (<wNsU1r00f2yRj8401NsV8s>, written with its Received line) and the author's, lower.
  'aio--Cox_example_1.eml': e('10.17.18.7', 'abuse', 'hallie_wilson@domain3.tld', '<51ca092-66ab5-3a@domain3.tld>', 'cox.net', 'arf'),
  'aio--Rackspace_example_1.eml': e('10.17.18.14', 'abuse', 'myprint21@domain3.tld', '<8257938866.20151229052105@domain3.tld>', 'olympiaintl.com', 'arf'),
  'aio--Synacor_example_1.eml': e('10.17.18.21', 'abuse', 'miranda_wise@domain3.tld', '<5e2aa01-1b9e6-dd@domain3.tld>', 'mymts.net', 'arf'),
  'aio--Synacor_example_2.eml': e('10.18.19.20', 'abuse', 'rhejda@charter.net', '<9B24D810-DC9F-4607-9F6D-155F575C7703@server.domain2.tld>', null, 'arf'),
  // `from server.domain3.tld [10.17.18.23] by nm11.cms.usa.net`: the address written as a word, not a comment.
  'aio--USANet_example_1.eml': e('10.17.18.23', 'abuse', 'info@kjo.com.sa', '<821TJNg7z9785S11@nm11.cms.usa.net>', 'kjo.com.sa', 'arf'),
  'aio--Yahoo_example_2.eml': e('10.17.18.26', 'abuse', 'secretaria@domain3.tld', '<057e01d152cc$551a0670$ff4e1350$@com>', null, 'arf'),
  'aio--Zoho_example_1.eml': e('10.17.18.28', 'abuse', 'orihuela@domain4.tld', '<004701d0e986$181bf800$4853e800$@com>', null, 'arf'),
  // Two Return-Paths: Zoho's forwarding one above the sender's <mailer@domain4.tld>; the lower is the envelope at the hand-off.
  'aio--Zoho_example_2.eml': e('10.17.18.29', 'abuse', 'mailer@domain4.tld', '<a3cfa726bfe56e942d015893388fed76@server.domain3.tld>', null, 'arf'),
  'aio--spamexperts-11.eml': e('fdf1:cb9d:f59e:19b0::122', 'abuse', 'admin@example.com', '<E1ZMZxK-000FIF-B7@server1.test17.example.com>', null, 'arf'),

  // rjbs/Email-ARF: example1 is an opt-out report of the draft format (message/rfc822-headers).
  'earf--example1.msg': e('10.67.41.167', 'opt-out', null, '8787KJKJ3K4J3K4J3K4J3.mail@example.net', null, 'arf-draft'),
  'earf--example2.msg': e('10.67.41.167', 'abuse', 'somespammer@example.net', '8787KJKJ3K4J3K4J3K4J3.mail@example.net', 'example.net', 'arf'),

  // ovh/cerberus-core: a SpamCop report (`Email from 213.251.151.160`); the spam carries no Return-Path.
  'ovh--sample2': e('213.251.151.160', 'abuse', null, '<4e95________________________cc23@idlog.strada.fr>', null, 'spamcop'),

  // rspamd's Received-parsing messages: plain messages; the source is the first hop from outside the recipient's
  // own hosts (rspamd tests the parse of each line; we take the address its test reads for the sending side).
  'rspamd--ham.eml': e('4.31.198.44', null, 'cfrg-bounces@irtf.org', '<0a67411b-9a2d-9e08-ca06-08ea938c0c89@gmail.com>', null, 'message'),
  'rspamd--received4.eml': e('2a01:7c8:aab6:26d:5054:ff:fed1:1da2', null, null, null, null, 'message'),
  'rspamd--received7.eml': e('2001:db8:114::514', null, null, null, null, 'message'),

  // sisimai/set-of-emails: sisimai's expected feedback types (test/public/arf.rb).
  'sis--bsd-arf-01.eml': e('192.0.2.89', 'abuse', 'support@example.ed.jp', null, 'example.ed.jp', 'arf'),
  'sis--bsd-arf-02.eml': e('192.0.2.8', 'abuse', 'shironeko@example.com', '<000000000000000000000000.smtp@example.com>', 'example.com', 'arf'),
  'sis--bsd-arf-11.eml': e('192.0.2.2', 'abuse', null, 'ffffffffffffffffffffffffff0000000000@example.net', null, 'arf'),
  // Opt-out of the draft format: the headers as text/rfc822-header.
  'sis--bsd-arf-12.eml': e('192.0.2.89', 'opt-out', null, '0000000000000000000000000@example.net', null, 'arf-draft'),
  'sis--bsd-arf-14.eml': e('192.0.2.2', 'abuse', '2222222222222222-22222222-0000-eeee-ffff-222222222222-222222@amazonses.com', '<2222222222222222-00000000-eeee-eeee-ffff-222222222222-111111@email.amazonses.com>', 'amazonses.com', 'arf'),
  'sis--bsd-arf-16.eml': e('192.0.2.1', 'abuse', 'neko@example.jp', '<ffffffffffffffffffffffff0000000@example.jp>', 'example.com', 'arf'),
  'sis--bsd-arf-18.eml': e('192.0.2.222', 'auth-failure', 'sironeko@example.org', '<000000002.2222222.1500000000022@example.net>', 'example.net', 'arf'),
  'sis--bsd-arf-19.eml': e('203.0.113.2', 'auth-failure', 'sironeko@neko.example.com', '<000000000.2222222.0000000000002@example.net>', 'example.net', 'arf'),
  'sis--bsd-arf-20.eml': e('203.0.113.2', 'auth-failure', 'dmarc-bounces@ietf.example.org', '<000000000eee@example.net>', 'example.net', 'arf'),
  // A JMRP complaint (not ARF); sisimai reads it as abuse. Its subject names 192.0.2.222, the attached message's
  // Received line 203.0.113.245: the hop is what we walk (the subject is only the fallback when no hop is ours).
  'sis--bsd-arf-22.eml': e('203.0.113.245', 'abuse', null, '<0000000000fffffffff0000000000000@example.com>', null, 'jmrp'),
  'sis--bsd-arf-25.eml': e('10.0.0.1', 'abuse', 'alice@example.com', null, 'example.com', 'arf'),
  // Apple Mail's unsubscribe mail: sisimai calls it opt-out feedback, but it names no sending IP at all (no
  // Received line, no report field), so nothing ties it to one of our addresses: refused as not our mail.
  'sis--bsd-arf-26.eml': { refused: 'no Received line and no reported address' },
  'sis--dos-arf-01.eml': e('192.0.2.89', 'abuse', 'support@example.ed.jp', null, 'example.ed.jp', 'arf'),
  // The same report with bare-CR line ends (classic Mac).
  'sis--mac-arf-01.eml': e('192.0.2.89', 'abuse', 'support@example.ed.jp', null, 'example.ed.jp', 'arf'),

  // X-ARF JSON, bare: v3 (abusix/xarf) and v4 (xarf-spec). v3's sample payload is not a message ("mail").
  'xabx--spam_sample.json': e('192.0.2.55', 'spam', 'spam@example.com', null, null, 'xarf-json'),
  'xspec--messaging-spam.json': e('192.168.1.100', 'spam', 'marketing@example.com', null, null, 'xarf-json'),
};
