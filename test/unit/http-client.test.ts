/** The hub's HTTP client (src/infra/http.ts): one refresh on a 401, handing the connector the failed answer. */
import nock from 'nock';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../src/infra/http.ts';
import { HttpError, type HttpResponse } from '../../src/sdk/crm.ts';

afterEach(() => nock.cleanAll());

describe('http client: 401', () => {
  it('calls onUnauthorized once with the failed answer, then sends the request again once', async () => {
    const scope = nock('https://portal.example')
      .post('/rest/crm.lead.add.json').reply(401, { error: 'expired_token', error_description: 'The access token provided has expired.' })
      .post('/rest/crm.lead.add.json').reply(200, { result: 7 });
    const seen: HttpResponse[] = [];
    const http = createHttpClient({ baseUrl: 'https://portal.example/rest/', onUnauthorized: async (failed) => void seen.push(failed) });
    const res = await http.request<{ result: number }>({ method: 'POST', url: 'crm.lead.add.json', data: {} });
    expect(res.data.result).toBe(7);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ status: 401, data: { error: 'expired_token' } });
    scope.done();
  });

  it('a second 401 after the refresh is an HttpError, not a loop', async () => {
    nock('https://portal.example').post('/rest/x.json').times(2).reply(401, { error: 'METHOD_CONFIRM_WAITING' });
    let calls = 0;
    const http = createHttpClient({ baseUrl: 'https://portal.example/rest/', onUnauthorized: async () => void calls++ });
    const err = await http.request({ method: 'POST', url: 'x.json' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(401);
    expect(calls).toBe(1);
  });
});
