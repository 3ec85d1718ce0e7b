/**
 * OAuth 2.0 (sheet §1.2–§1.3): `POST /oauth2/access_token` for `authorization_code` and
 * `refresh_token`, a stand-in for the consent page (`GET /oauth` → redirect with `code`),
 * and the legacy subdomain lookup. Errors use the vendor's OAuthProblemJson body (issue #123).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isRecord, queryOf, queryString } from '../http.ts';
import type { RouteDeps } from './deps.ts';

const OAUTH_PROBLEM_TYPE = 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson';

function oauthError(reply: FastifyReply, status: 400 | 401, hint: string): FastifyReply {
  return reply.code(status).type('application/problem+json').send({
    hint,
    title: 'Некорректный запрос',
    type: OAUTH_PROBLEM_TYPE,
    status,
    detail: 'В запросе отсутствует ряд параметров или параметры невалидны',
  });
}

function field(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function oauthRoutes(app: FastifyInstance, { opts, state, stats }: RouteDeps): void {
  const o = opts.oauth;

  app.post('/oauth2/access_token', async (req, reply) => {
    const body = isRecord(req.body) ? req.body : {};
    for (const key of ['client_id', 'client_secret', 'grant_type']) {
      if (!field(body, key)) return oauthError(reply, 400, `Check the \`${key}\` parameter`);
    }
    if (field(body, 'client_id') !== o.clientId || field(body, 'client_secret') !== o.clientSecret) {
      return oauthError(reply, 401, 'Client authentication failed');
    }
    const grant = field(body, 'grant_type');
    if (grant === 'authorization_code') {
      const code = field(body, 'code');
      if (!code) return oauthError(reply, 400, 'Check the `code` parameter');
      if (o.redirectUri !== null && field(body, 'redirect_uri') !== o.redirectUri) {
        return oauthError(reply, 401, 'Invalid redirect URI');
      }
      const result = state.auth.exchangeCode(code);
      if ('hint' in result) return oauthError(reply, result.status, result.hint);
      stats.codeExchanges += 1;
      return reply.type('application/json').send(result);
    }
    if (grant === 'refresh_token') {
      const token = field(body, 'refresh_token');
      if (!token) return oauthError(reply, 400, 'Check the `refresh_token` parameter');
      const result = state.auth.refresh(token);
      if ('hint' in result) return oauthError(reply, result.status, result.hint);
      stats.refreshes += 1;
      return reply.type('application/json').send(result);
    }
    return oauthError(reply, 400, 'Check the `grant_type` parameter');
  });

  // Stand-in for https://www.amocrm.ru/oauth: the admin "allows" at once and is redirected back.
  app.get('/oauth', async (req, reply) => {
    const q = queryOf(req);
    if (queryString(q, 'client_id') !== o.clientId) return oauthError(reply, 401, 'Client authentication failed');
    const target = queryString(q, 'redirect_uri') ?? o.redirectUri;
    if (!target) return oauthError(reply, 400, 'Check the `redirect_uri` parameter');
    const url = new URL(target);
    url.searchParams.set('code', state.auth.issueAuthCode());
    url.searchParams.set('referer', req.headers.host ?? `${state.meta.account.subdomain}.amocrm.ru`);
    url.searchParams.set('client_id', o.clientId);
    const csrf = queryString(q, 'state');
    if (csrf !== undefined) url.searchParams.set('state', csrf);
    return reply.redirect(url.toString(), 302);
  });

  // Sheet §1.5 (deprecated in the SDK, still answered).
  app.get('/oauth2/account/subdomain', async (req, reply) => {
    const token = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token || !state.auth.verify(token)) return oauthError(reply, 401, 'Token has been revoked');
    const a = state.meta.account;
    return reply.type('application/json').send({ id: a.id, subdomain: a.subdomain, domain: 'amocrm.ru', top_level_domain: 'ru' });
  });
}
