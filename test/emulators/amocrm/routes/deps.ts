/** What every route module receives, plus small helpers they share. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Faults } from '../faults.ts';
import { actingUser } from '../gate.ts';
import { baseUrl, queryOf, sendEmpty, sendProblem, withSet } from '../http.ts';
import type { ResolvedOptions } from '../options.ts';
import type { RenderCtx } from '../serialize.ts';
import type { AmoState } from '../state.ts';
import type { EmulatorStats } from '../stats.ts';

export interface RouteDeps {
  opts: ResolvedOptions;
  state: AmoState;
  stats: EmulatorStats;
  faults: Faults;
}

export function renderCtx(req: FastifyRequest, state: AmoState): RenderCtx {
  return { state, base: baseUrl(req), with: withSet(queryOf(req)) };
}

export function userOf(req: FastifyRequest, state: AmoState): number {
  return actingUser(req, state);
}

/** Integer route parameter, or undefined when the segment is not one. */
export function intParam(req: FastifyRequest, name: string): number | undefined {
  const params = req.params;
  if (typeof params !== 'object' || params === null || !(name in params)) return undefined;
  const raw: unknown = Object.getOwnPropertyDescriptor(params, name)?.value;
  return typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

export function stringParam(req: FastifyRequest, name: string): string {
  const params = req.params;
  if (typeof params !== 'object' || params === null) return '';
  const raw: unknown = Object.getOwnPropertyDescriptor(params, name)?.value;
  return typeof raw === 'string' ? raw : '';
}

/** Unknown entity id: 204 by default (sheet §3 leaves 204 vs 404 open; see options). */
export function sendMissing(reply: FastifyReply, opts: ResolvedOptions, req: FastifyRequest): FastifyReply {
  if (opts.missingEntityStatus === 404) return sendProblem(reply, 404, `Cannot GET ${baseUrl(req)}${req.url}`);
  return sendEmpty(reply);
}

export function notFound(reply: FastifyReply, req: FastifyRequest): FastifyReply {
  return sendProblem(reply, 404, `Cannot ${req.method} ${baseUrl(req)}${req.url}`);
}
