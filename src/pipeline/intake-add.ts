import { createHash } from 'node:crypto';
import { Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Packr } from 'msgpackr';

/**
 * The gateway's per-event write in ONE Redis round trip: a prelude (rate limit + duplicate check, see
 * enqueue.ts) runs in front of BullMQ's own `addStandardJob` script, in the same Lua call. A second round trip per
 * event cost about a sixth of the gateway's intake rate (each loopback write is a syscall that runs the receiver's
 * network stack too).
 *
 * What is borrowed from BullMQ and how it stays honest across upgrades:
 * - the script's arguments are BullMQ's own: captured once by running `queue.backend.addJobToTransaction` for a
 *   probe job against a recording client, then re-made per event by changing only the job id, timestamp and data
 *   in that capture. At start the re-made arguments of a second probe must equal, byte for byte, what BullMQ
 *   itself produces for it; otherwise every event is captured from BullMQ (slower, same bytes);
 * - the script's Lua is the one BullMQ registered on the queue's connection (`scriptsSet`), version-named;
 * - anything else unexpected (another script chosen, another key count) → `null`, and the caller takes the
 *   two-round-trip path (check script, then `queue.add`). `intake-add.test.ts` fails when either fallback is
 *   taken with the installed BullMQ, so an upgrade that changes the shape is noticed, not silently slower.
 */
export type PreludeResult = { kind: 'added' } | { kind: 'duplicate' } | { kind: 'limited'; waitMs: number };

export interface OneTripAdd {
  /** How the arguments are made: `template` (re-made from one capture) or `capture` (BullMQ per event). */
  readonly mode: 'template' | 'capture';
  /**
   * Runs the prelude, then adds the job unless the prelude returned. `preludeKeys`/`preludeArgs` are what the
   * prelude reads as `KEYS[keyBase+1…]` / `ARGV[argBase+1…]` (see PreludeLua).
   */
  add(data: unknown, jobId: string, preludeKeys: string[], preludeArgs: string[]): Promise<PreludeResult>;
}

/** The prelude's Lua, given how many keys and arguments BullMQ's script takes before its own: returns `{1}` (duplicate) or `{2, ms}` (limited), or falls through. */
export type PreludeLua = (keyBase: number, argBase: number) => string;

type Arg = string | Buffer | number;
interface Captured {
  name: string;
  args: Arg[];
}

const STANDARD_KEYS = 9;
const STANDARD_ARGS = 3;
/** Positions in BullMQ's packed argument array (ARGV[1] of addStandardJob): custom id and timestamp. */
const ARG_JOB_ID = 1;
const ARG_TIMESTAMP = 3;
// BullMQ's own packer settings (redis-queue-backend.js); the start-up comparison proves they still match.
const packer = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

/** BullMQ's add arguments for a job, taken by running its own code against a client that records the call. */
function captureAdd(queue: Queue, name: string, data: unknown, jobId: string, timestamp?: number): Captured | null {
  const job = new Job(queue, name, data, { ...queue.jobsOpts, jobId }, jobId);
  // Set on the job, not passed as an option: an option would be stored in the job's options too.
  if (timestamp) job.timestamp = timestamp;
  let captured: Captured | null = null;
  const recorder = {
    runCommand: (cmd: string, args: Arg[]) => {
      captured = { name: cmd, args };
      return Promise.resolve(jobId);
    },
  };
  // The capture happens synchronously inside; the promise resolves to the recorder's answer and is not needed.
  void queue.backend.addJobToTransaction(recorder as never, job.asJSON(), jobId, {}).catch(() => undefined);
  return captured;
}

/** Re-makes BullMQ's arguments for another job id, timestamp and data from one capture (see above). */
function templateFrom(c: Captured): (jobId: string, timestamp: number, data: unknown) => Arg[] {
  const keys = c.args.slice(0, STANDARD_KEYS);
  const packedArgs = packer.unpack(c.args[STANDARD_KEYS] as Buffer) as unknown[];
  const opts = packer.unpack(c.args[STANDARD_KEYS + 2] as Buffer) as Record<string, unknown>;
  return (jobId, timestamp, data) => {
    packedArgs[ARG_JOB_ID] = jobId;
    packedArgs[ARG_TIMESTAMP] = timestamp;
    opts.jobId = jobId;
    return [...keys, packer.pack(packedArgs), JSON.stringify(data === undefined ? {} : data), packer.pack(opts)];
  };
}

const sameArgs = (a: Arg[], b: Arg[]): boolean => a.length === b.length && a.every((x, i) => (Buffer.isBuffer(x) && Buffer.isBuffer(b[i]) ? x.equals(b[i]) : x === b[i]));

/** The ioredis client BullMQ registered its scripts on (the `connection` the queue was given). */
const queueConnection = (queue: Queue): Redis => queue.opts.connection as Redis;

/**
 * Builds the one-round-trip adder of `name` jobs for `queue`, run on `redis` (best a connection of its own:
 * ioredis copies every script of a connection into each pipeline it builds, and BullMQ registers dozens), or null
 * when the installed BullMQ does not fit (see above). Call after `queue.waitUntilReady()`: BullMQ registers its
 * scripts then.
 */
export function createOneTripAdd(queue: Queue, redis: Redis, name: string, prelude: PreludeLua, commandName = 'leadgateIntakeAdd'): OneTripAdd | null {
  const probe = captureAdd(queue, name, { probe: 1 }, 'probe-a', 1_700_000_000_000);
  if (!probe || !probe.name.startsWith('addStandardJob:') || probe.args.length !== STANDARD_KEYS + STANDARD_ARGS) return null;
  const registered = (queueConnection(queue).scriptsSet as Record<string, { lua: string; numberOfKeys: number | null } | undefined>)[probe.name];
  if (!registered || registered.numberOfKeys !== STANDARD_KEYS) return null;
  const lua = `${prelude(STANDARD_KEYS, STANDARD_ARGS)}\n${registered.lua}`;
  // Named after its Lua: another prelude (or BullMQ version) on the same connection is another command.
  const luaTag = createHash('sha1').update(lua).digest('hex').slice(0, 12);

  let template: ReturnType<typeof templateFrom> | null = null;
  try {
    const t = templateFrom(probe);
    const check = captureAdd(queue, name, { probe: 'ü"\n' }, 'probe-b:1', 1_700_000_000_123);
    if (check && sameArgs(t('probe-b:1', 1_700_000_000_123, { probe: 'ü"\n' }), check.args)) template = t;
  } catch {
    template = null; // an unreadable capture: BullMQ per event
  }
  const argsFor = (data: unknown, jobId: string): Arg[] => {
    if (template) return template(jobId, Date.now(), data);
    const call = captureAdd(queue, name, data, jobId);
    if (!call || call.name !== probe.name) throw new Error(`BullMQ chose ${call?.name ?? 'no script'} for an intake job; expected ${probe.name}`);
    return call.args;
  };
  type Caller = Record<string, (...args: Arg[]) => Promise<unknown>>;

  return {
    mode: template ? 'template' : 'capture',
    async add(data, jobId, preludeKeys, preludeArgs) {
      const args = argsFor(data, jobId);
      // ioredis fixes the key count per command: one command per prelude key count (one in practice).
      // defineCommand sends EVALSHA with a fallback to EVAL after a script flush or failover (per node on Cluster).
      const cmd = `${commandName}_${luaTag}_${preludeKeys.length}`;
      if (!(cmd in redis)) redis.defineCommand(cmd, { numberOfKeys: STANDARD_KEYS + preludeKeys.length, lua });
      const res = await (redis as unknown as Caller)[cmd]!(...args.slice(0, STANDARD_KEYS), ...preludeKeys, ...args.slice(STANDARD_KEYS), ...preludeArgs);
      if (Array.isArray(res)) return res[0] === 1 ? { kind: 'duplicate' } : { kind: 'limited', waitMs: Math.max(1, Number(res[1])) };
      if (typeof res === 'number' && res < 0) throw new Error(`BullMQ's addStandardJob refused the intake job (code ${res})`);
      return { kind: 'added' };
    },
  };
}
