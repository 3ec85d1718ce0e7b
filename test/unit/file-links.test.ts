import { describe, expect, it } from 'vitest';
import { fileLink, fileLinkValid } from '../../src/infra/file-links.ts';

const base = { channel: 'telegram', sourceId: 'acme-bot', ref: 'AgACAgIAAxkBAAM-photo', secret: 'webhook-secret-0123456789' };
const sigOf = (url: string) => new URL(url).searchParams.get('sig') ?? undefined;

describe('signed file links', () => {
  const url = fileLink({ publicUrl: 'https://hub.example.ru/', ...base });

  it('points at the hub, carries no secret, and verifies', () => {
    expect(url).toMatch(/^https:\/\/hub\.example\.ru\/files\/telegram\/acme-bot\/AgACAgIAAxkBAAM-photo\?sig=[A-Za-z0-9_-]{32}$/);
    expect(url).not.toContain(base.secret);
    expect(fileLinkValid({ ...base, sig: sigOf(url) })).toBe(true);
  });

  it('is the same on every run (a replayed event writes the same link)', () => {
    expect(fileLink({ publicUrl: 'https://hub.example.ru', ...base })).toBe(url);
  });

  it.each([
    ['a missing signature', { sig: undefined }],
    ['a flipped character', { sig: sigOf(url)!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }],
    ['a truncated signature', { sig: sigOf(url)!.slice(0, 20) }],
    ['another file id', { ref: 'AgACAgIAAxkBAAM-other', sig: sigOf(url) }],
    ['another source', { sourceId: 'other-bot', sig: sigOf(url) }],
    ['another channel', { channel: 'form', sig: sigOf(url) }],
    ['a rotated source secret', { secret: 'rotated-secret-9876543210', sig: sigOf(url) }],
  ])('refuses %s', (_name, change) => {
    expect(fileLinkValid({ ...base, ...{ sig: sigOf(url) }, ...change })).toBe(false);
  });
});
