/**
 * Long polling (`getUpdates`) for development, where Telegram cannot reach the hub: each update becomes the
 * RawEvent a webhook delivery would have been (JSON body, POST), so the pipeline after the intake store is the
 * same. The offset confirms a batch only when the next call is made, i.e. after the consumer stored it: a crash
 * in between gets the batch again, which the intake store's idempotency turns into duplicates, not losses.
 */
import { Telegram, TelegramError } from 'telegraf';
import type { RawEvent } from '#sdk';
import { ALLOWED_UPDATES } from './bot.ts';

export interface PollUpdatesOptions {
  token: string;
  apiRoot: string;
  signal: AbortSignal;
  /** Long-poll wait per call, seconds. @defaultValue 30 */
  timeoutSec?: number;
  /** Called on a failed call before the backoff (logs). */
  onError?: (err: Error, waitMs: number) => void;
}

/** Yields batches of RawEvents, oldest first; ends when `signal` aborts. */
export async function* pollUpdates(o: PollUpdatesOptions): AsyncGenerator<RawEvent[]> {
  const tg = new Telegram(o.token, { apiRoot: o.apiRoot });
  // telegraf types the signal with the `abort-controller` polyfill; node-fetch accepts Node's own at run time.
  const callOptions = { signal: o.signal } as unknown as NonNullable<Parameters<Telegram['callApi']>[2]>;
  let offset = 0;
  let failures = 0;
  while (!o.signal.aborted) {
    let updates: { update_id: number }[];
    try {
      updates = await tg.callApi('getUpdates', { offset, timeout: o.timeoutSec ?? 30, limit: 100, allowed_updates: [...ALLOWED_UPDATES] }, callOptions);
      failures = 0;
    } catch (err) {
      if (o.signal.aborted) return;
      // 409: a webhook is set, or another poller runs. Both need a human; keep trying slowly.
      const retryAfter = err instanceof TelegramError ? err.parameters?.retry_after : undefined;
      const waitMs = retryAfter !== undefined ? retryAfter * 1000 : Math.min(30_000, 500 * 2 ** Math.min(failures++, 6));
      o.onError?.(err as Error, waitMs);
      await sleep(waitMs, o.signal);
      continue;
    }
    if (updates.length === 0) continue;
    const receivedAt = new Date();
    yield updates.map((u) => ({ method: 'POST', subPath: '', headers: { 'content-type': 'application/json' }, query: {}, body: Buffer.from(JSON.stringify(u)), receivedAt }));
    offset = Math.max(...updates.map((u) => u.update_id)) + 1;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
