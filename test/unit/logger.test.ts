import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, maskText } from '../../src/infra/logger.ts';

describe('logs never carry phones, e-mails or secrets in clear', () => {
  it('masks phones and e-mails in free text', () => {
    expect(maskText('call +7 (912) 345-67-89 or ivan.petrov@example.ru')).toBe('call +7 *** ***-**-89 or i***@example.ru');
  });
  it('redacts secrets by key and masks nested values', () => {
    let out = '';
    const dest = new Writable({ write(c, _e, cb) { out += c.toString(); cb(); } });
    const log = createLogger({ destination: dest as never });
    log.info({ headers: { authorization: 'Bearer abc.def', 'x-leadgate-secret': 's3cr3t' }, contact: { phone: '89123456789', email: 'a.b@c.ru' }, refresh_token: 'rt-xyz' }, 'got lead from 8 912 345 67 89');
    expect(out).not.toContain('abc.def');
    expect(out).not.toContain('s3cr3t');
    expect(out).not.toContain('rt-xyz');
    expect(out).not.toContain('345');
    expect(out).not.toContain('a.b@c.ru');
    expect(out).toContain('[redacted]');
  });
  it('leaves ids and counts alone', () => {
    expect(maskText('job demo.aAWyk0Od7 attempt 3 of 40, lead 26053199')).toBe('job demo.aAWyk0Od7 attempt 3 of 40, lead 26053199');
  });
});
