import { readFileSync } from 'node:fs';
import { InputError } from '../sdk/errors.ts';
import { registry } from '../runtime/load-runtime-config.ts';
import { parseHttpRequestFile } from '../domain/http-request-file.ts';
import { normaliseStored } from '../pipeline/intake.processor.ts';
import { toStoredRaw } from '../pipeline/queues.ts';
import { parseWith } from '../sdk/decode.ts';
import type { CountryCode } from '../domain/phone.ts';

/**
 * `leadgate normalise <connector> <file|->`: what a sender's payload becomes, without Redis or a CRM.
 * Options: --settings <json file> (connector settings), --secret <value> (check the signature too),
 * --region RU, --source <id>.
 */
export async function normaliseCommand(args: string[]): Promise<number> {
  const positional: string[] = [];
  const opts: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) opts[a.slice(2)] = args[++i] ?? '';
    else positional.push(a);
  }
  const [connectorId, file] = positional;
  if (!connectorId || !file) {
    process.stderr.write('usage: leadgate normalise <connector-id> <file|-> [--settings file.json] [--secret S] [--region RU] [--source id]\n');
    return 2;
  }
  const connector = registry.channels.find((c) => c.id === connectorId);
  if (!connector) {
    process.stderr.write(`unknown connector "${connectorId}"; known: ${registry.channels.map((c) => c.id).join(', ')}\n`);
    return 2;
  }
  let bytes: Buffer;
  try {
    bytes = file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (err) {
    process.stderr.write(`cannot read ${file}: ${(err as Error).message}\n`);
    return 2;
  }
  let raw;
  try {
    raw = parseHttpRequestFile(bytes, { receivedAt: new Date() }).event;
  } catch (err) {
    process.stderr.write(`cannot read ${file} as an HTTP request file or body: ${(err as Error).message}\n`);
    return 2;
  }
  let settings: unknown;
  try {
    settings = parseWith(connector.settings, opts.settings ? JSON.parse(readFileSync(opts.settings, 'utf8')) : {}, 'settings');
  } catch (err) {
    process.stderr.write(`bad --settings: ${(err as Error).message}\n`);
    return 2;
  }
  const sourceId = opts.source ?? 'cli';
  const src = { config: {} as never, ref: { channel: connector.id, sourceId, name: connector.title }, connector, settings, secret: opts.secret, crmAccountId: undefined };
  try {
    if (opts.secret !== undefined && connector.verify) {
      const v = connector.verify(raw, { settings, secret: opts.secret, now: new Date() });
      if (!v.ok) {
        process.stderr.write(`signature check failed: ${v.reason}\n`);
        return 1;
      }
    }
    const outcomes = await normaliseStored({ sourceId, connector: connector.id, eventId: 'cli', eventHash: 'cli', raw: toStoredRaw(raw) }, src, { defaultRegion: (opts.region ?? 'RU') as CountryCode });
    const decoded = await connector.decode(raw);
    const payload = parseWith(connector.payload, decoded);
    const decision = connector.decide?.(payload, raw) ?? { kind: 'event' };
    const eventId = connector.eventId(payload, raw) ?? '(hash of the body)';
    process.stdout.write(JSON.stringify({ connector: connector.id, eventId, decision: decision.kind, outcomes }, null, 2) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof InputError) {
      process.stderr.write(`rejected (${err.statusCode} ${err.code}): ${err.message}${err.field ? ` [field: ${err.field}; expected: ${err.expected}]` : ''}\n`);
      return 1;
    }
    throw err;
  }
}
