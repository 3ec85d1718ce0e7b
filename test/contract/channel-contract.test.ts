/**
 * The channel contract every registered connector inherits. For each `connectors/channels/<id>/fixtures/<case>.http`
 * (or `<case>.eml`, a whole message as a poller hands it over):
 *
 *   verify (when `<case>.meta.json` gives a secret) → decode → payload → decide → normalise
 *
 * with a fixed context, compared with `<case>.expected.json`. Write or refresh goldens with
 * `UPDATE_GOLDENS=1 npx vitest run test/contract`, then review the diff by eye.
 *
 * Files next to a case (all optional except the golden):
 * - `<case>.settings.json`: the source's `settings` (parsed with the connector's schema; default `{}`);
 * - `<case>.meta.json`: `{ "sameEventAs": "<case>", "defaultRegion": "KZ", "secret": "…", "ip": "…" }`;
 *   `sameEventAs` declares a redelivery of the same event (its eventId must equal the other one's);
 * - `invalid-<what>.http`: must be rejected with an InputError naming a field; its golden is the error.
 *
 * Checked for every valid case: the golden; eventId stable per case and distinct across cases; normalise
 * pure (deep-frozen input, no network, two runs equal); every outcome already in `OutcomeSchema` form;
 * every phone E.164; every lead/call/message carries the context's source.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { E164Schema, InputError, OutcomeSchema, parseWith, type ChannelConnector, type CountryCode, type IntakeDecision, type NormaliseContext, type Outcome, type RawEvent } from '#sdk';
import { channels } from '../../connectors/index.ts';
import { fixtureContext, loadHttpFixture, type HttpRequestFile } from '../support/http-fixture.ts';

const UPDATE = process.env['UPDATE_GOLDENS'] === '1';
const CHANNELS_DIR = fileURLToPath(new URL('../../connectors/channels/', import.meta.url));

const FixtureMetaSchema = z.strictObject({
  /** This case is a redelivery of that one: same eventId expected. */
  sameEventAs: z.string().min(1).optional(),
  /** Region for numbers without a country code. @defaultValue RU */
  defaultRegion: z.string().regex(/^[A-Z]{2}$/).optional(),
  /** The source's secret: when set and the connector has `verify`, the fixture is verified first. */
  secret: z.string().optional(),
  /** Client IP as the gateway saw it. */
  ip: z.string().optional(),
});
type FixtureMeta = z.infer<typeof FixtureMetaSchema>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyChannel = ChannelConnector<any, any>;

interface Run {
  event: RawEvent;
  decision: IntakeDecision;
  eventId: string;
  /** Outcomes of two normalise runs over the same deep-frozen payload and context. */
  outcomes: [Outcome[], Outcome[]];
  ctx: NormaliseContext<unknown>;
}

function readJson(file: string): unknown {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as unknown) : undefined;
}

function fixtureMeta(dir: string, name: string): FixtureMeta {
  return FixtureMetaSchema.parse(readJson(join(dir, `${name}.meta.json`)) ?? {});
}

/** What the gateway falls back to when a connector has no event id for a delivery. */
function bodyHash(e: RawEvent): string {
  return `body:${createHash('sha256').update(e.body).digest('hex')}`;
}

function deepFreeze<T>(v: T): T {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || Object.isFrozen(v)) return v;
  for (const child of Object.values(v)) deepFreeze(child);
  return Object.freeze(v);
}

function loadCase(connector: AnyChannel, dir: string, name: string, requestFile: string): { file: HttpRequestFile; event: RawEvent; settings: unknown; meta: FixtureMeta } {
  const file = loadHttpFixture(requestFile);
  if (file.channel !== undefined) expect(file.channel, `${name}: the request line names another connector`).toBe(connector.id);
  const meta = fixtureMeta(dir, name);
  const settings = parseWith(connector.settings, readJson(join(dir, `${name}.settings.json`)) ?? {}, 'settings');
  const event = meta.ip ? { ...file.event, ip: meta.ip } : file.event;
  return { file, event, settings, meta };
}

/** verify → decode → payload → decide → eventId → normalise ×2. Throws what the edge would turn into a 4xx. */
async function runCase(connector: AnyChannel, dir: string, name: string, requestFile: string): Promise<Run> {
  const { file, event, settings, meta } = loadCase(connector, dir, name, requestFile);
  if (connector.requiresSecret && connector.verify && meta.secret === undefined && !name.startsWith('invalid-')) {
    throw new Error(`${name}: ${connector.id} is a signed sender; give the fixture's secret in ${name}.meta.json so verify runs over its bytes`);
  }
  if (connector.verify && meta.secret !== undefined) {
    const v = connector.verify(event, { settings, secret: meta.secret, now: event.receivedAt });
    if (!v.ok) throw new VerifyRejected(v.reason);
  }
  const decoded: unknown = await connector.decode(event);
  const payload: unknown = parseWith(connector.payload, decoded);
  const decision: IntakeDecision = connector.decide?.(payload, event) ?? { kind: 'event' };
  const eventId = connector.eventId(payload, event) ?? bodyHash(event);
  const ctx: NormaliseContext<unknown> = deepFreeze(fixtureContext(connector, { ...file, event }, settings, (meta.defaultRegion ?? 'RU') as CountryCode));
  // A handshake or a query (caller lookup) is answered at the edge and never enqueued, so it never reaches normalise.
  if (decision.kind === 'handshake' || decision.kind === 'query') return { event, decision, eventId, outcomes: [[], []], ctx };
  const frozen = deepFreeze(payload);
  const fetchSpy = vi.fn(() => {
    throw new Error('normalise must not touch the network');
  });
  vi.stubGlobal('fetch', fetchSpy);
  try {
    const first = connector.normalise(frozen, ctx);
    const second = connector.normalise(frozen, ctx);
    expect(fetchSpy).not.toHaveBeenCalled();
    return { event, decision, eventId, outcomes: [first, second], ctx };
  } finally {
    vi.unstubAllGlobals();
  }
}

class VerifyRejected extends Error {}

function toJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v)) as unknown;
}

function checkGolden(file: string, actual: unknown): void {
  if (UPDATE) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run UPDATE_GOLDENS=1 npx vitest run test/contract and review it`);
  expect(actual).toEqual(readJson(file));
}

/** Every phone-looking field in the outcomes: `phonesE164[]`, `fromE164`, `toE164`, any `*E164`. */
function collectE164(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => collectE164(x, out));
  else if (v && typeof v === 'object') {
    for (const [k, child] of Object.entries(v)) {
      if (/e164$/i.test(k)) {
        if (typeof child === 'string') out.push(child);
        else if (Array.isArray(child)) child.forEach((x) => out.push(String(x)));
      } else collectE164(child, out);
    }
  }
  return out;
}

function sourceOf(o: Outcome): unknown {
  if (o.kind === 'lead') return o.lead.source;
  if (o.kind === 'call') return o.call.source;
  if (o.kind === 'message') return o.message.source;
  return undefined;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe.each(channels.map((c) => [c.id, c] as const))('channel contract: %s', (id, connector) => {
  const dir = join(CHANNELS_DIR, id, 'fixtures');
  const all = existsSync(dir) ? readdirSync(dir) : [];
  /** Case name → request file (`.http`, or `.eml` for mail). */
  const files = new Map(all.filter((f) => /\.(http|eml)$/.test(f)).map((f) => [f.replace(/\.(http|eml)$/, ''), join(dir, f)]));
  const cases = [...files.keys()].sort();
  const valid = cases.filter((c) => !c.startsWith('invalid-'));
  const invalid = cases.filter((c) => c.startsWith('invalid-'));

  it('has golden fixtures, and no stray fixture files', () => {
    expect(valid.length, `${dir}: add fixtures/<case>.http with <case>.expected.json`).toBeGreaterThan(0);
    const stray = all.filter((f) => {
      const m = /^(.*)\.(expected|settings|meta)\.json$/.exec(f);
      return f.endsWith('.json') && (!m || !cases.includes(m[1]!));
    });
    expect(stray, 'json files without a matching .http/.eml').toEqual([]);
    expect(typeof connector.normalise).toBe('function');
    expect(id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  if (valid.length) it.each(valid)('%s: normalises to its golden', async (name) => {
    const run = await runCase(connector, dir, name, files.get(name)!);
    const [first, second] = run.outcomes;
    expect(second, 'normalise is not deterministic').toEqual(first);
    if (run.decision.kind === 'handshake') {
      expect(run.decision.reply.status).toBeGreaterThanOrEqual(200);
      expect(run.decision.reply.status).toBeLessThan(300);
    }
    for (const o of first) {
      const parsed = OutcomeSchema.safeParse(o);
      expect(parsed.success ? [] : parsed.error.issues, 'outcome does not match OutcomeSchema').toEqual([]);
      // Fully formed: no field left for a schema default to fill in.
      expect(toJson(parsed.data)).toEqual(toJson(o));
      const src = sourceOf(o);
      if (src !== undefined) expect(src).toEqual(run.ctx.source);
    }
    for (const phone of collectE164(first)) expect(E164Schema.safeParse(phone).success, `not E.164: ${phone}`).toBe(true);
    checkGolden(join(dir, `${name}.expected.json`), toJson(first));
  });

  if (invalid.length) it.each(invalid)('%s: is rejected naming a field', async (name) => {
    let err: unknown;
    try {
      await runCase(connector, dir, name, files.get(name)!);
    } catch (e) {
      err = e;
    }
    if (err instanceof VerifyRejected) {
      checkGolden(join(dir, `${name}.expected.json`), { rejected: 'verify', reason: err.message });
      return;
    }
    expect(err, 'expected an InputError').toBeInstanceOf(InputError);
    if (!(err instanceof InputError)) return;
    const e = err;
    expect(e.field, 'the error must name the field').toBeTruthy();
    expect(e.statusCode).toBeGreaterThanOrEqual(400);
    expect(e.statusCode).toBeLessThan(500);
    checkGolden(join(dir, `${name}.expected.json`), { error: { code: e.code, status: e.statusCode, field: e.field } });
  });

  it('eventId is stable per fixture and distinct across fixtures (except declared redeliveries)', async () => {
    if (valid.length === 0) return;
    const ids = new Map<string, string>();
    for (const name of valid) {
      const a = await runCase(connector, dir, name, files.get(name)!);
      const b = await runCase(connector, dir, name, files.get(name)!);
      expect(b.eventId, `${name}: eventId changes between runs`).toBe(a.eventId);
      ids.set(name, a.eventId);
    }
    const sameAs = (name: string): string => fixtureMeta(dir, name).sameEventAs ?? name;
    /** The first delivery of an event: follow `sameEventAs` links (cycles stop). */
    const root = (name: string): string => {
      const seen = new Set<string>();
      let n = name;
      while (sameAs(n) !== n && !seen.has(n)) {
        seen.add(n);
        n = sameAs(n);
      }
      return n;
    };
    for (const name of valid) {
      const target = sameAs(name);
      if (target !== name) {
        expect(valid, `${name}.meta.json: sameEventAs names no fixture`).toContain(target);
        expect(ids.get(name), `${name} is declared the same event as ${target}`).toBe(ids.get(target));
      }
    }
    const byId = new Map<string, string[]>();
    for (const [name, eventId] of ids) byId.set(eventId, [...(byId.get(eventId) ?? []), name]);
    for (const names of byId.values()) {
      expect(new Set(names.map(root)).size, `fixtures ${names.join(', ')} share an eventId without declaring sameEventAs`).toBe(1);
    }
  });
});
