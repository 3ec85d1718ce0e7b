import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { classifyRobotMail, type RobotMailCode } from './robot-mail.ts';

/** A minimal message with the given extra header lines, parsed by the real mailparser. */
async function mail(headerLines: string[], opts: { from?: string; subject?: string; contentType?: string; body?: string } = {}) {
  const raw = [
    `From: ${opts.from ?? 'Anna <anna@example.org>'}`,
    'To: leads@example.test',
    `Subject: ${opts.subject ?? 'Question about delivery'}`,
    'Date: Tue, 05 Nov 2024 10:00:00 +0000',
    'Message-ID: <m1@example.org>',
    ...headerLines,
    `Content-Type: ${opts.contentType ?? 'text/plain; charset=utf-8'}`,
    '',
    opts.body ?? 'Hello, how much is delivery?',
    '',
  ].join('\r\n');
  return simpleParser(raw);
}

describe('classifyRobotMail (forms-telegram-email.md §C3, in order)', () => {
  const cases: [string, string[], Parameters<typeof mail>[1], RobotMailCode][] = [
    ['DSN multipart/report', [], { contentType: 'multipart/report; report-type=delivery-status; boundary="b"', body: '--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y.test\r\nStatus: 5.1.1\r\n--b--' }, 'robot-mail:delivery-status'],
    ['read receipt', [], { contentType: 'multipart/report; report-type=disposition-notification; boundary="b"', body: '--b\r\nContent-Type: text/plain\r\n\r\nread\r\n--b--' }, 'robot-mail:read-receipt'],
    ['Auto-Submitted: auto-replied', ['Auto-Submitted: auto-replied'], {}, 'robot-mail:auto-submitted'],
    ['Auto-Submitted: auto-generated with a comment', ['Auto-Submitted: auto-generated (rule 7)'], {}, 'robot-mail:auto-submitted'],
    ['X-Autoreply', ['X-Autoreply: yes'], {}, 'robot-mail:auto-reply-header'],
    ['X-Autorespond', ['X-Autorespond: 1'], {}, 'robot-mail:auto-reply-header'],
    ['X-Auto-Response-Suppress (Exchange OOF)', ['X-Auto-Response-Suppress: All'], {}, 'robot-mail:auto-reply-header'],
    ['X-MS-Exchange-Inbox-Rules-Loop', ['X-MS-Exchange-Inbox-Rules-Loop: a@corp.test'], {}, 'robot-mail:auto-reply-header'],
    ['Precedence: bulk', ['Precedence: bulk'], {}, 'robot-mail:precedence'],
    ['Precedence: junk', ['Precedence: Junk'], {}, 'robot-mail:precedence'],
    ['List-Id', ['List-Id: Devs <devs.lists.test>'], {}, 'robot-mail:mailing-list'],
    ['List-Unsubscribe only', ['List-Unsubscribe: <https://news.test/u?id=1>'], {}, 'robot-mail:mailing-list'],
    ['X-Mailing-List', ['X-Mailing-List: devs@lists.test'], {}, 'robot-mail:mailing-list'],
    ['Sender: owner-…', ['Sender: owner-devs@lists.test'], {}, 'robot-mail:mailing-list'],
    ['Return-Path: <>', ['Return-Path: <>'], {}, 'robot-mail:null-return-path'],
    ['MAILER-DAEMON', [], { from: 'MAILER-DAEMON@mx.test' }, 'robot-mail:robot-sender'],
    ['postmaster', [], { from: 'Postmaster <postmaster@mx.test>' }, 'robot-mail:robot-sender'],
    ['no-reply', [], { from: 'Shop <no-reply@shop.test>' }, 'robot-mail:robot-sender'],
    ['do_not_reply', [], { from: 'do_not_reply@shop.test' }, 'robot-mail:robot-sender'],
    ['donotreply', [], { from: 'donotreply@shop.test' }, 'robot-mail:robot-sender'],
    ['bounces+tag', [], { from: 'bounces+abc@ses.test' }, 'robot-mail:robot-sender'],
    ['notifications', [], { from: 'notifications@github.test' }, 'robot-mail:robot-sender'],
    ['subject: Automatic reply', [], { subject: 'Automatic reply: hello' }, 'robot-mail:robot-subject'],
    ['subject: Автоответ', [], { subject: '=?utf-8?B?0JDQstGC0L7QvtGC0LLQtdGCOiDQv9GA0LjQstC10YI=?=' }, 'robot-mail:robot-subject'],
    ['subject: Undelivered Mail Returned to Sender', [], { subject: 'Undelivered Mail Returned to Sender' }, 'robot-mail:robot-subject'],
    ['X-Leadgate loop header', ['X-Leadgate-Source: site'], {}, 'robot-mail:loop'],
  ];
  it.each(cases)('%s', async (_name, headers, opts, code) => {
    const verdict = classifyRobotMail(await mail(headers, opts));
    expect(verdict).toMatchObject({ robot: true, code });
  });

  it('lets a person through', async () => {
    expect(classifyRobotMail(await mail([]))).toEqual({ robot: false });
  });

  it('Auto-Submitted: no is a person (RFC 3834)', async () => {
    expect(classifyRobotMail(await mail(['Auto-Submitted: no']))).toEqual({ robot: false });
  });

  it('Precedence: first-class is a person', async () => {
    expect(classifyRobotMail(await mail(['Precedence: first-class']))).toEqual({ robot: false });
  });

  it('does not treat a name that merely contains "noreply" as a robot', async () => {
    expect(classifyRobotMail(await mail([], { from: 'Mr Noreplyson <noreplyson@example.org>' }))).toEqual({ robot: false });
  });

  it('the first rule wins: a DSN from MAILER-DAEMON with Auto-Submitted is a delivery-status report', async () => {
    const m = await mail(['Auto-Submitted: auto-replied', 'Return-Path: <>'], {
      from: 'MAILER-DAEMON@mx.test',
      contentType: 'multipart/report; report-type=delivery-status; boundary="b"',
      body: '--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; gone@client.test\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--',
    });
    const v = classifyRobotMail(m);
    expect(v).toEqual({ robot: true, code: 'robot-mail:delivery-status', detail: 'multipart/report; report-type=delivery-status; final-recipient=gone@client.test; status=5.1.1' });
  });

  it('own mail: From is the monitored mailbox, any case', async () => {
    const m = await mail([], { from: 'Leads <LEADS@example.test>' });
    expect(classifyRobotMail(m, { ownAddresses: ['leads@example.test'] })).toMatchObject({ robot: true, code: 'robot-mail:own-mail' });
    expect(classifyRobotMail(m)).toEqual({ robot: false });
  });

  it('reads a JSON copy of the headers as well as the Map mailparser builds', async () => {
    const m = await mail(['List-Id: Devs <devs.lists.test>']);
    const copy = new Map(Object.entries(JSON.parse(JSON.stringify(Object.fromEntries(m.headers))) as Record<string, unknown>));
    expect(classifyRobotMail({ headers: copy, from: m.from, subject: m.subject })).toEqual({ robot: true, code: 'robot-mail:mailing-list', detail: 'List-Id: devs.lists.test' });
  });
});
