/**
 * Response conventions of amoCRM v4 (sheet §0, §2, §3): HAL bodies, 204 for empty,
 * problem+json errors with `validation-errors`, page/limit pagination.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export const HAL_JSON = 'application/hal+json';
export const PROBLEM_JSON = 'application/problem+json';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'ErrInternalServer',
};

export function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.headers.host ?? '127.0.0.1'}`;
}

export function link(href: string): { self: { href: string } } {
  return { self: { href } };
}

export function sendHal(reply: FastifyReply, body: unknown, status = 200): FastifyReply {
  return reply.code(status).type(HAL_JSON).send(body);
}

/** 204 with an empty body: how amoCRM answers an empty list or a search miss. */
export function sendEmpty(reply: FastifyReply): FastifyReply {
  return reply.code(204).send();
}

export function problemBody(status: number, detail: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { title: TITLES[status] ?? 'Error', type: `https://httpstatus.es/${status}`, status, detail, ...extra };
}

export function sendProblem(
  reply: FastifyReply,
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply.code(status).type(PROBLEM_JSON).send(problemBody(status, detail, extra));
}

export function sendNginxPage(reply: FastifyReply, status: number, text: string): FastifyReply {
  const page = `<html>\r\n<head><title>${status} ${text}</title></head>\r\n<body>\r\n<center><h1>${status} ${text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
  return reply.code(status).type('text/html').send(page);
}

// ---------------------------------------------------------------- validation

export interface ValidationIssue {
  code: string;
  path: string;
  detail: string;
}

/**
 * Errors of one batch item. Codes and details are the ones the real API returns
 * (issues #21, #115 of amocrm-api-php and user logs); `TooManyElements` is ours.
 */
export class ItemErrors {
  readonly issues: ValidationIssue[] = [];
  constructor(readonly requestId: string) {}

  add(code: string, path: string, detail: string): void {
    this.issues.push({ code, path, detail });
  }
  missing(path: string): void {
    this.add('FieldMissing', path, 'This field is missing.');
  }
  choice(path: string): void {
    this.add('NotSupportedChoice', path, 'The value you selected is not a valid choice.');
  }
  type(path: string, expected: 'int' | 'string' | 'array' | 'bool' | 'object' | 'numeric'): void {
    this.add('InvalidType', path, `This value should be of type ${expected}.`);
  }
  tooMany(path: string, max: number): void {
    this.add('TooManyElements', path, `This collection should contain ${max} element${max === 1 ? '' : 's'} or less.`);
  }
  get ok(): boolean {
    return this.issues.length === 0;
  }
}

/** `request_id` of an item: the caller's own, or its index as a string (sheet §3). */
export function requestIdOf(item: unknown, index: number): string {
  if (isRecord(item) && (typeof item.request_id === 'string' || typeof item.request_id === 'number')) {
    return String(item.request_id);
  }
  return String(index);
}

export function sendValidation(reply: FastifyReply, items: ItemErrors[]): FastifyReply {
  const failed = items.filter((i) => !i.ok);
  return sendProblem(reply, 400, 'Request validation failed', {
    'validation-errors': failed.map((i) => ({ request_id: i.requestId, errors: i.issues })),
  });
}

export const MAX_BATCH = 250;

/**
 * Checks the envelope of a batch write: a non-empty JSON array of at most `max` items.
 * Sends the error and returns null when it is not one.
 */
export function readBatch(reply: FastifyReply, body: unknown, max = MAX_BATCH): unknown[] | null {
  if (body === undefined || body === null || (Array.isArray(body) && body.length === 0)) {
    sendProblem(reply, 400, 'Request data can not be empty');
    return null;
  }
  if (!Array.isArray(body)) {
    const e = new ItemErrors('0');
    e.type('', 'array');
    sendValidation(reply, [e]);
    return null;
  }
  if (body.length > max) {
    if (max === MAX_BATCH) {
      // Kommo http-codes page (sheet §2): 422 "Limit 250 per page".
      sendProblem(reply, 422, `Limit ${MAX_BATCH} per page`);
    } else {
      const e = new ItemErrors('0');
      e.tooMany('', max);
      sendValidation(reply, [e]);
    }
    return null;
  }
  return body;
}

// ---------------------------------------------------------------- input guards

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** Reads an optional integer field; records InvalidType when present but not an integer. */
export function optInt(item: Record<string, unknown>, key: string, errs: ItemErrors, prefix = ''): number | undefined {
  const v = item[key];
  if (v === undefined || v === null) return undefined;
  if (!isInt(v)) {
    errs.type(prefix + key, 'int');
    return undefined;
  }
  return v;
}

export function optString(item: Record<string, unknown>, key: string, errs: ItemErrors, prefix = ''): string | undefined {
  const v = item[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errs.type(prefix + key, 'string');
    return undefined;
  }
  return v;
}

// ---------------------------------------------------------------- query + pagination

export type Query = Record<string, unknown>;

export function queryOf(req: FastifyRequest): Query {
  return isRecord(req.query) ? req.query : {};
}

export function queryString(q: Query, key: string): string | undefined {
  const v = q[key];
  return typeof v === 'string' ? v : undefined;
}

/** `with=leads,contacts` → Set. */
export function withSet(q: Query): Set<string> {
  const v = q.with;
  const raw = Array.isArray(v) ? v.join(',') : typeof v === 'string' ? v : '';
  return new Set(raw.split(',').map((s) => s.trim()).filter(Boolean));
}

/** A filter value given as `x=1`, `x[]=1&x[]=2` or `x[0]=1` → numbers. */
export function intList(v: unknown): number[] | undefined {
  if (v === undefined) return undefined;
  const arr = Array.isArray(v) ? v : isRecord(v) ? Object.values(v) : [v];
  return arr.map((x) => Number(x)).filter((n) => Number.isInteger(n));
}

export function stringList(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const arr = Array.isArray(v) ? v : isRecord(v) ? Object.values(v) : [v];
  return arr.filter((x): x is string => typeof x === 'string');
}

export interface Page<T> {
  page: number;
  limit: number;
  items: T[];
  hasNext: boolean;
}

/**
 * Slices one page. `limit` above `maxLimit` is clamped (the real cap is 250 for entity
 * lists; whether amoCRM clamps or rejects is not documented — clamping is the lenient choice).
 */
export function paginate<T>(all: T[], q: Query, maxLimit = 250, defaultLimit = 50): Page<T> {
  const page = Math.max(1, Math.trunc(Number(q.page ?? 1)) || 1);
  const limit = Math.min(maxLimit, Math.max(1, Math.trunc(Number(q.limit ?? defaultLimit)) || defaultLimit));
  const start = (page - 1) * limit;
  return { page, limit, items: all.slice(start, start + limit), hasNext: start + limit < all.length };
}

/** `_links` of a list page: self, next (if any) and prev, keeping the caller's other parameters. */
export function pageLinks(req: FastifyRequest, page: Page<unknown>): Record<string, { href: string }> {
  const [path = '/', rawQuery = ''] = req.url.split('?', 2);
  const make = (p: number): string => {
    const params = new URLSearchParams(rawQuery);
    params.set('page', String(p));
    params.set('limit', String(page.limit));
    return `${baseUrl(req)}${path}?${params.toString()}`;
  };
  const links: Record<string, { href: string }> = { self: { href: make(page.page) } };
  if (page.hasNext) links.next = { href: make(page.page + 1) };
  if (page.page > 1) links.prev = { href: make(page.page - 1) };
  return links;
}

/** Sends a HAL list page, or 204 when the page is empty. */
export function sendList<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  key: string,
  all: T[],
  render: (item: T) => unknown,
  opts: { maxLimit?: number; defaultLimit?: number; total?: boolean } = {},
): FastifyReply {
  const page = paginate(all, queryOf(req), opts.maxLimit, opts.defaultLimit);
  if (page.items.length === 0) return sendEmpty(reply);
  const body: Record<string, unknown> = { _page: page.page };
  if (opts.total) body._total_items = all.length;
  body._links = pageLinks(req, page);
  body._embedded = { [key]: page.items.map(render) };
  return sendHal(reply, body);
}
