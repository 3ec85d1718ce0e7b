/**
 * Properties of the gateway (`buildApp` + `app.inject`) on hostile requests to every registered channel:
 * - never a 5xx: bad input is a 4xx naming the field, whatever the bytes, charset, headers or query;
 * - a source with a secret never stores an event from a request not signed with it (vendor handshakes such as
 *   Mango's `/ping` are answered but store nothing);
 * - nothing is written onto Object.prototype.
 * The event store is an in-memory IntakeStore (the gateway's injected dependency), so this needs no Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import type { IntakeStore } from '../../src/pipeline/enqueue.ts';
import type { StoredEvent } from '../../src/pipeline/queues.ts';
import { channels } from '../../connectors/index.ts';
import { assertNoPrototypePollution, fixtureSamples, hostileSample, workingSettings, type Sample } from './support/hostile.ts';

const RUNS = Number(process.env.FC_RUNS ?? 60);
const webhookChannels = channels.filter((c) => c.intake.mode === 'webhook');
const SECRET = 'property-secret-0123456789';

/** One signed source per channel, one open source per channel that allows it. */
const sources = webhookChannels.flatMap((c) => [
  { id: `${c.id}-signed`, connector: c.id, name: `${c.title} (signed)`, secretEnv: 'PROP_SECRET', settings: workingSettings(c) },
  ...(c.requiresSecret ? [] : [{ id: `${c.id}-open`, connector: c.id, name: `${c.title} (open)`, settings: workingSettings(c) }]),
]);

describe('gateway on hostile requests', () => {
  let app: FastifyInstance;
  const stored: StoredEvent[] = [];
  beforeAll(async () => {
    const config = resolveConfig({ file: '(property)', value: { sources, gateway: { bodyLimitBytes: 1024 * 1024 } }, lineOf: () => undefined }, registry, { ...process.env, PROP_SECRET: SECRET }, resolve('.'));
    const intake: IntakeStore = {
      async put(ev) {
        const dup = stored.some((s) => s.sourceId === ev.sourceId && s.eventHash === ev.eventHash);
        stored.push(ev);
        return dup ? 'duplicate' : 'accepted';
      },
      ping: async () => true,
    };
    app = await buildApp({ config, intake, docs: false });
  });
  afterAll(async () => {
    await app?.close();
  });

  const request = (samples: Map<string, Sample[]>) =>
    fc.record({
      source: fc.constantFrom(...sources.map((s) => s.id), 'no-such-source'),
      // Mostly the source's own channel; sometimes another one, or a path trick.
      channelOverride: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...webhookChannels.map((c) => c.id), 'email', '..', '%2e%2e') }),
      method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT'),
      sample: fc.nat(),
      rawQuery: fc.option(fc.constantFrom('a[b][c][d][e][f][g][h]=1', '%', 'secret[]=x&secret[]=y', 'secret=' + 'x'.repeat(5000), '__proto__[polluted]=1', 'json=%7B%7D&sign=00'), { nil: undefined }),
    }).chain((r) => {
      const channel = r.channelOverride ?? sources.find((s) => s.id === r.source)?.connector ?? 'form';
      return hostileSample(samples.get(channel) ?? []).map((s) => ({ ...r, channel, s }));
    });

  it('never answers 5xx; a signed source stores nothing unsigned', async () => {
    const samples = new Map(webhookChannels.map((c) => [c.id, fixtureSamples(c)]));
    await fc.assert(
      fc.asyncProperty(request(samples), async ({ source, channel, method, s, rawQuery }) => {
        const before = stored.length;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(s.headers)) {
          // Values a real HTTP parser would refuse never reach us; light-my-request would throw on them.
          if (k !== 'content-length' && k !== 'transfer-encoding' && /^[\t\x20-\x7e\x80-\xff]*$/.test(v)) headers[k] = v;
        }
        const qs = [new URLSearchParams(s.query).toString(), rawQuery].filter(Boolean).join('&');
        const url = `/hooks/${channel}/${source}${s.subPath}${qs ? `?${qs}` : ''}`;
        const res = await app.inject({ method: method as 'POST', url, headers, ...(method === 'GET' ? {} : { payload: s.body }) });
        assertNoPrototypePollution();
        expect(res.statusCode, `${method} ${url.slice(0, 120)} → ${res.statusCode} ${res.body.slice(0, 200)}`).toBeLessThan(500);
        const added = stored.slice(before);
        if (source.endsWith('-signed')) expect(added, `stored from an unsigned request to ${source}`).toEqual([]);
        // Our routes answer errors as {"error":{"code":"LG_ERR_…"}}; an unmatched method/path gets Fastify's 404 JSON.
        if (res.statusCode >= 400 && !/not found/i.test(res.body)) {
          const body = res.json() as { error?: { code?: string } };
          expect(body.error?.code ?? '', res.body.slice(0, 200)).toMatch(/^(LG_ERR_|FST_)/);
        }
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('a correctly signed request is still stored (the property above is not vacuous)', async () => {
    const before = stored.length;
    const res = await app.inject({ method: 'POST', url: '/hooks/form/form-signed', headers: { 'content-type': 'application/json', 'x-leadgate-secret': SECRET }, payload: JSON.stringify({ name: 'Иван', phone: '+79123456789', submission_id: 'prop-ok' }) });
    expect(res.statusCode).toBe(200);
    expect(stored.length).toBe(before + 1);
  });
});
