/** What the emulator saw, for assertions such as "the client never hit the rate limit". */

export interface RequestLogEntry {
  /** Emulator clock, epoch ms, when the request arrived. */
  at: number;
  httpMethod: string;
  host: string;
  /** URL path without the query string. */
  path: string;
  /** REST method, lower-case without `.json`; `oauth.token` for the token endpoint; '' if none. */
  method: string;
  auth: 'webhook' | 'oauth' | 'none';
  status: number;
  /** `error` code of the answer, if it was an error envelope. */
  error?: string;
  /** Whether the request was counted in the leaky bucket. */
  rateCounted: boolean;
  /** Bucket fill right after this request. */
  bucketLevel: number;
  /** Number of commands, for `batch`. */
  batchCommands?: number;
}

export class EmulatorStats {
  readonly requests: RequestLogEntry[] = [];
  /** Sub-calls included: REST method → calls executed (not refused before execution). */
  readonly methodCalls = new Map<string, number>();
  /** `QUERY_LIMIT_EXCEEDED` answers produced by the leaky bucket (injected ones not included). */
  limitErrors = 0;
  /** `QUERY_LIMIT_EXCEEDED` answers produced by `faults.queryLimitNext`. */
  injectedLimitErrors = 0;
  /** `OPERATION_TIME_LIMIT` answers (sub-calls included). */
  operationLimitErrors = 0;
  /** Successful `refresh_token` grants. */
  refreshCount = 0;
  /** 302 answers produced by `faults.redirect`. */
  redirects = 0;
  /** Highest leaky-bucket fill seen. */
  maxBucketFill = 0;
  /** Emulator bugs: exceptions a method threw that were not `RestError` (answered as HTTP 500). */
  readonly internalErrors: unknown[] = [];

  /** @internal */
  record(entry: RequestLogEntry): void {
    this.requests.push(entry);
    if (entry.bucketLevel > this.maxBucketFill) this.maxBucketFill = entry.bucketLevel;
  }

  /** @internal */
  countCall(method: string): void {
    this.methodCalls.set(method, (this.methodCalls.get(method) ?? 0) + 1);
  }

  /** Requests counted in the bucket, per emulator-clock second, ascending. */
  perSecond(): { second: number; count: number }[] {
    const counts = new Map<number, number>();
    for (const r of this.requests) {
      if (!r.rateCounted) continue;
      const second = Math.floor(r.at / 1000);
      counts.set(second, (counts.get(second) ?? 0) + 1);
    }
    return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([second, count]) => ({ second, count }));
  }

  /** Largest count in any one second of `perSecond()`. */
  maxPerSecond(): number {
    return this.perSecond().reduce((max, s) => Math.max(max, s.count), 0);
  }

  /** HTTP requests to `method` (or all REST requests when omitted). */
  requestCount(method?: string): number {
    return this.requests.filter((r) => r.method !== 'oauth.token' && (method === undefined || r.method === method.toLowerCase())).length;
  }

  reset(): void {
    this.requests.length = 0;
    this.methodCalls.clear();
    this.limitErrors = 0;
    this.injectedLimitErrors = 0;
    this.operationLimitErrors = 0;
    this.refreshCount = 0;
    this.redirects = 0;
    this.maxBucketFill = 0;
    this.internalErrors.length = 0;
  }
}
