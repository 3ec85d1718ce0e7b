/**
 * Account metadata (sheet §11): account, users, pipelines/statuses, custom fields.
 */
import type { FastifyInstance } from 'fastify';
import { link, pageLinks, paginate, queryOf, sendEmpty, sendHal, stringList } from '../http.ts';
import {
  renderField,
  renderPipeline,
  renderStatus,
  renderUser,
} from '../serialize.ts';
import type { EntityType } from '../types.ts';
import { intParam, renderCtx, sendMissing, type RouteDeps } from './deps.ts';

const FIELD_ENTITIES: EntityType[] = ['leads', 'contacts', 'companies'];

/** RU docs: the custom-fields list returns at most 50 fields per page (sheet §2). */
const CUSTOM_FIELDS_PAGE_MAX = 50;

export function accountRoutes(app: FastifyInstance, { opts, state }: RouteDeps): void {
  app.get('/api/v4/account', async (req, reply) => {
    const ctx = renderCtx(req, state);
    const a = state.meta.account;
    const w = ctx.with;
    const body: Record<string, unknown> = {
      id: a.id,
      name: a.name,
      subdomain: a.subdomain,
      created_at: 1_577_836_800,
      created_by: 0,
      updated_at: 1_577_836_800,
      updated_by: 0,
      current_user_id: state.meta.account.current_user_id,
      country: a.country,
      currency: a.currency,
      currency_symbol: a.currency_symbol,
      customers_mode: 'disabled',
      is_unsorted_on: state.meta.pipelines.some((p) => p.is_unsorted_on),
      mobile_feature_version: 0,
      is_loss_reason_enabled: true,
      is_helpbot_enabled: false,
      is_technical_account: false,
      contact_name_display_order: 1,
    };
    if (w.has('amojo_id')) body.amojo_id = '4d9e1f6c-0000-4000-8000-emulator0001';
    if (w.has('uuid')) body.uuid = '9b1f0a52-0000-4000-8000-emulator0001';
    if (w.has('version')) body.version = 1;
    if (w.has('is_api_filter_enabled')) body.is_api_filter_enabled = false;
    if (w.has('drive_url')) body.drive_url = 'https://drive-b.amocrm.ru';
    if (w.has('amojo_rights')) body.amojo_rights = { can_direct: true, can_create_groups: true };
    body._links = link(`${ctx.base}/api/v4/account`);
    const embedded: Record<string, unknown> = {};
    if (w.has('users_groups')) embedded.users_groups = [{ id: 0, name: 'Отдел продаж', uuid: null }];
    if (w.has('task_types')) embedded.task_types = state.meta.taskTypes;
    if (w.has('entity_names')) {
      embedded.entity_names = { leads: { ru: { singular_form: { default: 'Сделка' }, plural_form: { default: 'Сделки' } } } };
    }
    if (w.has('datetime_settings')) {
      embedded.datetime_settings = {
        date_pattern: 'd.m.Y H:i',
        short_date_pattern: 'd.m.Y',
        short_time_pattern: 'H:i',
        date_format: 'd.m.Y',
        time_format: 'H:i:s',
        timezone: a.timezone,
        timezone_offset: a.timezone_offset,
      };
    }
    if (Object.keys(embedded).length > 0) body._embedded = embedded;
    return sendHal(reply, body);
  });

  app.get('/api/v4/users', async (req, reply) => {
    const ctx = renderCtx(req, state);
    const page = paginate(state.meta.users, queryOf(req));
    if (page.items.length === 0) return sendEmpty(reply);
    return sendHal(reply, {
      _total_items: state.meta.users.length,
      _page: page.page,
      _page_count: Math.ceil(state.meta.users.length / page.limit),
      _links: pageLinks(req, page),
      _embedded: { users: page.items.map((u) => renderUser(u, ctx)) },
    });
  });

  app.get('/api/v4/users/:id', async (req, reply) => {
    const u = state.user(intParam(req, 'id') ?? -1);
    return u ? sendHal(reply, renderUser(u, renderCtx(req, state))) : sendMissing(reply, opts, req);
  });

  app.get('/api/v4/leads/pipelines', async (req, reply) => {
    const ctx = renderCtx(req, state);
    return sendHal(reply, {
      _total_items: state.meta.pipelines.length,
      _links: link(`${ctx.base}/api/v4/leads/pipelines`),
      _embedded: { pipelines: state.meta.pipelines.map((p) => renderPipeline(p, ctx)) },
    });
  });

  app.get('/api/v4/leads/pipelines/:id', async (req, reply) => {
    const p = state.pipeline(intParam(req, 'id') ?? -1);
    return p ? sendHal(reply, renderPipeline(p, renderCtx(req, state))) : sendMissing(reply, opts, req);
  });

  app.get('/api/v4/leads/pipelines/:id/statuses', async (req, reply) => {
    const p = state.pipeline(intParam(req, 'id') ?? -1);
    if (!p) return sendMissing(reply, opts, req);
    const ctx = renderCtx(req, state);
    return sendHal(reply, {
      _total_items: p.statuses.length,
      _links: link(`${ctx.base}/api/v4/leads/pipelines/${p.id}/statuses`),
      _embedded: { statuses: p.statuses.map((s) => renderStatus(s, p.id, ctx)) },
    });
  });

  app.get('/api/v4/leads/pipelines/:id/statuses/:sid', async (req, reply) => {
    const p = state.pipeline(intParam(req, 'id') ?? -1);
    const s = p?.statuses.find((x) => x.id === intParam(req, 'sid'));
    return p && s ? sendHal(reply, renderStatus(s, p.id, renderCtx(req, state))) : sendMissing(reply, opts, req);
  });

  for (const entity of FIELD_ENTITIES) {
    app.get(`/api/v4/${entity}/custom_fields`, async (req, reply) => {
      const q = queryOf(req);
      const filter = q.filter;
      const types = stringList(typeof filter === 'object' && filter !== null ? Object.getOwnPropertyDescriptor(filter, 'type')?.value : undefined);
      const fields = state.fieldsOf(entity).filter((f) => !types || types.length === 0 || types.includes(f.type));
      const page = paginate(fields, q, CUSTOM_FIELDS_PAGE_MAX, CUSTOM_FIELDS_PAGE_MAX);
      if (page.items.length === 0) return sendEmpty(reply);
      const ctx = renderCtx(req, state);
      return sendHal(reply, {
        _total_items: fields.length,
        _page: page.page,
        _page_count: Math.ceil(fields.length / page.limit),
        _links: pageLinks(req, page),
        _embedded: { custom_fields: page.items.map((f) => renderField(f, ctx)) },
      });
    });

    app.get(`/api/v4/${entity}/custom_fields/:id`, async (req, reply) => {
      const f = state.fieldsOf(entity).find((x) => x.id === intParam(req, 'id'));
      return f ? sendHal(reply, renderField(f, renderCtx(req, state))) : sendMissing(reply, opts, req);
    });
  }
}
