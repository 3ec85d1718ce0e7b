/**
 * What tests assert about traffic: a request log, a per-second histogram, the busiest
 * sliding window, counts of 401/403/429/5xx and of OAuth token grants.
 */

export interface RequestLogEntry {
  method: string;
  /** Path without the query string. */
  path: string;
  url: string;
  /** 0 when the emulator hung up or never answered (reset/timeout faults). */
  status: number;
  /** Unix ms on the emulator clock at arrival. */
  at: number;
  requestId: string;
  /** Items of an array (batch) body: how many entities one write carried. */
  items?: number;
  /** Set when an injected fault produced the outcome. */
  fault?: 'status' | 'rate-limit' | 'timeout' | 'reset';
}

export class EmulatorStats {
  readonly requests: RequestLogEntry[] = [];
  /** Arrivals per Unix second (key = floor(ms / 1000)). */
  readonly perSecond = new Map<number, number>();
  /** Most arrivals seen in any sliding window of `windowMs` (all requests, rejected ones too). */
  maxPerWindow = 0;
  count401 = 0;
  count403 = 0;
  /** Every 429 sent, rate-limit or injected. */
  count429 = 0;
  count5xx = 0;
  /** `grant_type=refresh_token` exchanges that succeeded. */
  refreshes = 0;
  /** `grant_type=authorization_code` exchanges that succeeded. */
  codeExchanges = 0;
  private window: number[] = [];

  constructor(
    readonly windowMs: number,
    /** The limit the account enforces; `limitExceeded` compares against it. */
    readonly limitPerWindow: number,
  ) {}

  /** True when some sliding window saw more requests than the account allows. */
  get limitExceeded(): boolean {
    return this.maxPerWindow > this.limitPerWindow;
  }

  /** Largest bucket of the per-second histogram (calendar seconds, not sliding). */
  get maxPerSecond(): number {
    return Math.max(0, ...this.perSecond.values());
  }

  recordArrival(at: number): void {
    const sec = Math.floor(at / 1000);
    this.perSecond.set(sec, (this.perSecond.get(sec) ?? 0) + 1);
    this.window.push(at);
    while (this.window.length > 0 && (this.window[0] ?? 0) <= at - this.windowMs) this.window.shift();
    this.maxPerWindow = Math.max(this.maxPerWindow, this.window.length);
  }

  recordResponse(entry: RequestLogEntry): void {
    this.requests.push(entry);
    if (entry.status === 401) this.count401 += 1;
    if (entry.status === 403) this.count403 += 1;
    if (entry.status === 429) this.count429 += 1;
    if (entry.status >= 500) this.count5xx += 1;
  }

  /** Requests whose path matches, e.g. `stats.matching('POST', '/api/v4/leads/unsorted/forms')`. */
  matching(method: string, path: string | RegExp): RequestLogEntry[] {
    return this.requests.filter(
      (r) => r.method === method.toUpperCase() && (typeof path === 'string' ? r.path === path : path.test(r.path)),
    );
  }

  reset(): void {
    this.requests.length = 0;
    this.perSecond.clear();
    this.window = [];
    this.maxPerWindow = 0;
    this.count401 = 0;
    this.count403 = 0;
    this.count429 = 0;
    this.count5xx = 0;
    this.refreshes = 0;
    this.codeExchanges = 0;
  }
}
