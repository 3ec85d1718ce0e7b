import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config/load.ts';
import { registry } from '../runtime/load-runtime-config.ts';
import { byteCap, createRecordings, RecordingTooLargeError } from './recordings.ts';

const env = { SALT: 'mango-salt-0123456789', REC_KEY: 'recording-key-0123456789abcdef' };

function config(recordings: Record<string, unknown>) {
  return resolveConfig(
    {
      file: 'test.yaml',
      value: { sources: [{ id: 'm', connector: 'mango', name: 'M', secretEnv: 'SALT', settings: { apiKey: 'k' } }], telephony: { recordings } },
      lineOf: () => undefined,
    },
    registry,
    env,
    '.',
  );
}

describe('recording links', () => {
  const recs = createRecordings({ config: config({ publicBaseUrl: 'https://hub.example.ru/', signingKeyEnv: 'REC_KEY' }), env });
  const ref = { recordingId: 'MToxMDA2NzYxMg==', providerCallId: 'entry/1' };

  it('a hub link carries the signed handle and reads back; a flipped byte or another key does not', () => {
    const link = recs.hubLink('m', ref)!;
    expect(link).toMatch(/^https:\/\/hub\.example\.ru\/recordings\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{32}\.mp3$/);
    const token = link.split('/recordings/')[1]!;
    expect(recs.readToken(token)).toEqual({ sourceId: 'm', ref });
    const flipped = token.replace(/^(.)/, (c) => (c === 'W' ? 'X' : 'W'));
    expect(recs.readToken(flipped)).toBeNull();
    const other = createRecordings({ config: config({ publicBaseUrl: 'https://hub.example.ru', signingKeyEnv: 'REC_KEY' }), env: { ...env, REC_KEY: 'another-key-0123456789abcdef' } });
    expect(other.readToken(token)).toBeNull();
    expect(recs.readToken('garbage')).toBeNull();
  });

  it('no public address → no hub links; a public address without a signing key stops start-up', () => {
    expect(createRecordings({ config: config({}), env }).hubLink('m', ref)).toBeNull();
    expect(() => createRecordings({ config: config({ publicBaseUrl: 'https://hub.example.ru' }), env })).toThrow(/signingKeyEnv/);
    expect(() => createRecordings({ config: config({ publicBaseUrl: 'https://hub.example.ru', signingKeyEnv: 'REC_KEY' }), env: { REC_KEY: 'short' } })).toThrow(/shorter than 16/);
  });

  it('streams are cut past maxBytes', async () => {
    let bytes = 0;
    const sink = async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) bytes += c.length;
    };
    await expect(pipeline(Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), byteCap(1_000), sink)).rejects.toBeInstanceOf(RecordingTooLargeError);
    expect(bytes).toBeLessThanOrEqual(1_000);
    await expect(pipeline(Readable.from([Buffer.alloc(600), Buffer.alloc(400)]), byteCap(1_000), sink)).resolves.toBeUndefined();
  });
});
