import nodemailer, { type SendMailOptions } from 'nodemailer';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MailSchema } from '../../src/config/schema.ts';
import { makeKeys } from '../../src/infra/keys.ts';
import { createMailer } from '../../src/infra/mailer.ts';
import { cleanupPrefix, TEST_REDIS_URL, uniquePrefix } from '../support/redis.ts';

describe('mailer: auto-acknowledgements and alerts', () => {
  const prefix = uniquePrefix();
  const redis = new Redis(TEST_REDIS_URL);
  afterEach(async () => {
    await cleanupPrefix(prefix);
  });
  afterAll(() => redis.disconnect());

  function mailer(extra: Record<string, unknown> = {}) {
    const sent: { envelope: { to: string[] }; message: string }[] = [];
    const transport = nodemailer.createTransport({ jsonTransport: true });
    const orig = transport.sendMail.bind(transport);
    transport.sendMail = (async (m: SendMailOptions) => {
      const info = (await orig(m)) as unknown as { envelope: { to: string[] }; message: string };
      sent.push(info);
      return info;
    }) as typeof transport.sendMail;
    const config = MailSchema.parse({ smtp: { host: 'unused' }, from: 'Acme <zayavki@acme.test>', adminTo: 'admin@acme.test', autoAck: true, ...extra });
    return { m: createMailer({ config, env: {}, redis, keys: makeKeys(prefix), log: pino({ level: 'silent' }), transport }), sent };
  }

  it('acknowledges once per delivery, threaded, marked as an auto-reply of ours', async () => {
    const { m, sent } = mailer();
    const a = { key: 'amo:mailbox.x.0', to: 'Ivan@Example.org', leadNumber: '4242', subject: 'Re: Запрос цены', inReplyTo: '<q1@example.org>' };
    expect(await m.autoAck(a)).toEqual({ result: 'sent' });
    expect(await m.autoAck(a)).toEqual({ result: 'skipped', reason: 'already sent' });
    expect(sent).toHaveLength(1);
    const msg = JSON.parse(sent[0]!.message) as { subject: string; to: { address: string }[]; inReplyTo: string; headers: Record<string, string>; text: string };
    expect(msg.to[0]!.address).toBe('ivan@example.org');
    expect(msg.subject).toBe('Re: Запрос цены (заявка №4242)');
    expect(msg.text).toContain('№4242');
    expect(msg.inReplyTo).toBe('<q1@example.org>');
    expect(msg.headers).toMatchObject({ 'Auto-Submitted': 'auto-replied', 'X-Leadgate-Loop': 'auto-ack', 'X-Auto-Response-Suppress': 'All' });
  });

  it.each(['noreply@shop.example', 'MAILER-DAEMON@mx.example.org', 'postmaster@example.org', 'not-an-address'])('never acknowledges %s', async (to) => {
    const { m, sent } = mailer();
    expect((await m.autoAck({ key: `k-${to}`, to, leadNumber: '1', subject: 's' })).result).toBe('skipped');
    expect(sent).toHaveLength(0);
  });

  it('sends nothing when autoAck is off', async () => {
    const { m, sent } = mailer({ autoAck: false });
    expect((await m.autoAck({ key: 'k', to: 'ivan@example.org', leadNumber: '1', subject: 's' })).result).toBe('skipped');
    expect(sent).toHaveLength(0);
  });

  it('mails an alert once per kind and subject within alertEveryMinutes', async () => {
    const { m, sent } = mailer();
    await m.alert({ kind: 'poll:mailbox:login', subject: 'mailbox cannot log in', text: 'check the password' });
    await m.alert({ kind: 'poll:mailbox:login', subject: 'mailbox cannot log in', text: 'check the password' });
    await m.alert({ kind: 'crm:amo:warnings', subject: 'token expires', text: 'renew it' });
    expect(sent.map((s) => s.envelope.to)).toEqual([['admin@acme.test'], ['admin@acme.test']]);
  });
});
