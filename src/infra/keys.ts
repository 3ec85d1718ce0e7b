/**
 * Every Redis key the hub owns, in one place. The prefix carries a hash tag (`{leadgate}`) so that
 * BullMQ's multi-key scripts and ours land in one Redis Cluster slot.
 */
export interface Keys {
  prefix: string;
  idem(sourceId: string, eventHash: string): string;
  journal(deliveryKey: string): string;
  lock(name: string): string;
  limiter(accountId: string): string;
  pause(accountId: string): string;
  tokens(accountId: string): string;
  cache(accountId: string, key: string): string;
  thread(accountId: string, threadKey: string): string;
  call(accountId: string, callKey: string): string;
  attribution(code: string): string;
  counter(name: string): string;
}

export function makeKeys(prefix: string): Keys {
  const p = prefix;
  return {
    prefix: p,
    idem: (s, h) => `${p}:idem:${s}:${h}`,
    journal: (k) => `${p}:journal:${k}`,
    lock: (n) => `${p}:lock:${n}`,
    limiter: (a) => `${p}:limit:${a}`,
    pause: (a) => `${p}:pause:${a}`,
    tokens: (a) => `${p}:tokens:${a}`,
    cache: (a, k) => `${p}:cache:${a}:${k}`,
    thread: (a, t) => `${p}:thread:${a}:${t}`,
    call: (a, c) => `${p}:call:${a}:${c}`,
    attribution: (c) => `${p}:attr:${c}`,
    counter: (n) => `${p}:count:${n}`,
  };
}
