/**
 * External PBX telephony (docs `api-reference/telephony/telephony-external-call-{register,finish,attach-record}.md`).
 * - `register`/`finish` are app-only per the docs (`WRONG_AUTH_TYPE` for webhooks; core accepts
 *   webhooks) — see `telephonyWebhookAuth`;
 * - `register` binds the call to `CRM_ENTITY_*` or to the first contact/company/lead whose phone
 *   matches (core rules), creates a lead for `CRM_CREATE=1` when nothing matched (in simple mode the
 *   lead is converted at once — not documented, read `CRM_CREATED_ENTITIES`), and returns the same
 *   `CALL_ID` for a repeat within 30 min with the same user/phone/type/line/`EXTERNAL_CALL_ID`;
 * - `finish` creates the CRM call activity; `CALL_STATUS` follows `DURATION > 0`, `STATUS_CODE`
 *   defaults to 200/304 the same way;
 * - `attachRecord` needs a finished call; `.mp3`/`.wav` only; base64 content, a `RECORD_URL`
 *   (not downloaded by the emulator), or `FILENAME` alone → `{uploadUrl, fieldName}`.
 */
import { randomBytes } from 'node:crypto';
import { param, toId, toInt, toStr } from '../params.ts';
import { corePhoneKey } from '../phone.ts';
import type { ExternalCall, PortalUser } from '../state.ts';
import { formatPortalDate, parsePortalDateTime } from '../time.ts';
import { OWNER_TYPE_ID, RestError, type CrmEntityKind, type MultiFieldValue } from '../types.ts';
import { createItem } from './crm-entity.ts';
import { convertLead, leadHooks } from './crm-items.ts';
import { addActivity } from './crm-timeline.ts';
import type { MethodContext, MethodTable } from './method.ts';

const REREGISTER_WINDOW_MS = 30 * 60_000;
const core = (text: string): RestError => new RestError(400, 'ERROR_CORE', text);
const CRM_TYPES: Record<string, CrmEntityKind> = { CONTACT: 'contact', COMPANY: 'company', LEAD: 'lead' };

function resolveUser(ctx: MethodContext): PortalUser {
  const userId = toId(param(ctx.params, 'USER_ID'));
  const inner = toStr(param(ctx.params, 'USER_PHONE_INNER'));
  if (userId === undefined && inner === '') throw core('USER_ID or USER_PHONE_INNER should be set');
  const user = userId !== undefined ? ctx.state.users.get(userId) : ctx.state.userByInner(inner);
  if (!user || !user.ACTIVE) throw core('User is not found or is not active');
  return user;
}

function findByPhone(ctx: MethodContext, phone: string): { type: string; id: number } | undefined {
  const wanted = corePhoneKey(phone);
  for (const [type, kind] of Object.entries(CRM_TYPES)) {
    for (const [id, item] of ctx.state.entities(kind)) {
      const phones = Array.isArray(item.PHONE) ? (item.PHONE as MultiFieldValue[]) : [];
      if (phones.some((p) => corePhoneKey(p.VALUE) === wanted)) return { type, id };
    }
  }
  return undefined;
}

function registerResult(call: ExternalCall): Record<string, unknown> {
  return {
    CALL_ID: call.CALL_ID,
    CRM_CREATED_LEAD: call.CRM_CREATED_LEAD,
    CRM_CREATED_ENTITIES: call.CRM_CREATED_ENTITIES,
    CRM_ENTITY_TYPE: call.CRM_ENTITY_TYPE,
    CRM_ENTITY_ID: call.CRM_ENTITY_ID,
  };
}

export const telephonyMethods: MethodTable = {
  'telephony.externalcall.register': {
    scope: 'telephony',
    appOnly: true,
    handler: (ctx) => {
      const user = resolveUser(ctx);
      const phone = toStr(param(ctx.params, 'PHONE_NUMBER')).replace(/[a-zа-яё]/gi, '').trim();
      if (phone.replace(/\D/g, '') === '') throw core('Unsupported phone number format');
      const type = toInt(param(ctx.params, 'TYPE'));
      if (type === undefined || type < 1 || type > 5) throw core('Unknown TYPE');
      const startRaw = param(ctx.params, 'CALL_START_DATE');
      let startMs = ctx.nowMs;
      if (startRaw !== undefined && startRaw !== '') {
        const parsed = parsePortalDateTime(startRaw, ctx.opts.utcOffsetMinutes);
        if (parsed === undefined) throw core('CALL_START_DATE should be in the ISO-8601 format');
        startMs = parsed;
      }
      const line = toStr(param(ctx.params, 'LINE_NUMBER')) || null;
      const externalId = toStr(param(ctx.params, 'EXTERNAL_CALL_ID')) || null;
      const repeat = [...ctx.state.externalCalls.values()].find(
        (c) =>
          c.finished === null &&
          c.registeredBy === ctx.auth.key &&
          c.USER_ID === user.ID &&
          c.PHONE_NUMBER === phone &&
          c.TYPE === type &&
          c.LINE_NUMBER === line &&
          c.EXTERNAL_CALL_ID === externalId &&
          ctx.nowMs - c.registeredAtMs < REREGISTER_WINDOW_MS,
      );
      if (repeat) return { result: registerResult(repeat) };

      const call: ExternalCall = {
        CALL_ID: `externalCall.${randomBytes(16).toString('hex')}.${Math.floor(ctx.nowMs / 1000)}`,
        EXTERNAL_CALL_ID: externalId,
        USER_ID: user.ID,
        PHONE_NUMBER: phone,
        LINE_NUMBER: line,
        TYPE: type,
        CALL_START_DATE: formatPortalDate(startMs, ctx.opts.utcOffsetMinutes),
        CRM_ENTITY_TYPE: null,
        CRM_ENTITY_ID: null,
        CRM_CREATED_LEAD: null,
        CRM_CREATED_ENTITIES: [],
        registeredBy: ctx.auth.key,
        registeredAtMs: ctx.nowMs,
        finished: null,
        records: [],
      };
      const internal = ctx.state.userByInner(phone) !== undefined;
      const forcedType = toStr(param(ctx.params, 'CRM_ENTITY_TYPE')).toUpperCase();
      const forcedId = toId(param(ctx.params, 'CRM_ENTITY_ID'));
      const forcedKind = CRM_TYPES[forcedType];
      if (!internal && forcedKind && forcedId !== undefined && ctx.state.entities(forcedKind).has(forcedId)) {
        call.CRM_ENTITY_TYPE = forcedType;
        call.CRM_ENTITY_ID = forcedId;
      } else if (!internal) {
        const found = findByPhone(ctx, phone);
        if (found) {
          call.CRM_ENTITY_TYPE = found.type;
          call.CRM_ENTITY_ID = found.id;
        } else if (toInt(param(ctx.params, 'CRM_CREATE')) === 1) {
          const leadId = createItem(
            ctx,
            'lead',
            {
              TITLE: `${phone} - ${type === 1 ? 'Outgoing' : 'Incoming'} call`,
              SOURCE_ID: toStr(param(ctx.params, 'CRM_SOURCE')) || 'CALL',
              PHONE: [{ VALUE: phone, VALUE_TYPE: 'WORK' }],
              ASSIGNED_BY_ID: user.ID,
            },
            leadHooks,
          );
          call.CRM_CREATED_LEAD = leadId;
          call.CRM_CREATED_ENTITIES.push({ ENTITY_TYPE: 'LEAD', ENTITY_ID: leadId });
          call.CRM_ENTITY_TYPE = 'LEAD';
          call.CRM_ENTITY_ID = leadId;
          const lead = ctx.state.leads.get(leadId);
          if (ctx.state.crmMode === 'simple' && lead) {
            const conversion = convertLead(ctx, leadId, lead);
            call.CRM_CREATED_ENTITIES.push(...conversion.created);
            if (conversion.contactId !== null) {
              call.CRM_ENTITY_TYPE = 'CONTACT';
              call.CRM_ENTITY_ID = conversion.contactId;
            }
          }
        }
      }
      ctx.state.externalCalls.set(call.CALL_ID, call);
      return { result: registerResult(call) };
    },
  },
  'telephony.externalcall.finish': {
    scope: 'telephony',
    appOnly: true,
    handler: (ctx) => {
      const callId = param(ctx.params, 'CALL_ID');
      if (typeof callId !== 'string') throw new RestError(400, 'INVALID_ARGUMENT', 'CALL_ID must be a string');
      const user = resolveUser(ctx);
      const call = ctx.state.externalCalls.get(callId);
      if (!call || call.finished) throw core('Call is not found (call should be registered prior to finishing)');
      const duration = Math.max(0, toInt(param(ctx.params, 'DURATION')) ?? 0);
      const statusCode = toStr(param(ctx.params, 'STATUS_CODE')) || (duration > 0 ? '200' : '304');
      const incoming = call.TYPE !== 1;
      let activityId: number | null = null;
      const kind = call.CRM_ENTITY_TYPE ? CRM_TYPES[call.CRM_ENTITY_TYPE] : undefined;
      if (kind && call.CRM_ENTITY_ID !== null) {
        activityId = addActivity(ctx, {
          kind: 'call',
          OWNER_TYPE_ID: OWNER_TYPE_ID[kind],
          OWNER_ID: call.CRM_ENTITY_ID,
          TYPE_ID: 2,
          SUBJECT: incoming ? `Incoming call from ${call.PHONE_NUMBER}` : `Outgoing call to ${call.PHONE_NUMBER}`,
          DESCRIPTION: '',
          RESPONSIBLE_ID: user.ID,
          DEADLINE: call.CALL_START_DATE,
          COMPLETED: 'Y',
          DIRECTION: incoming ? 1 : 2,
          input: structuredClone(ctx.params),
        });
      }
      const finished: Record<string, unknown> = {
        CALL_ID: call.CALL_ID,
        EXTERNAL_CALL_ID: call.EXTERNAL_CALL_ID,
        PORTAL_USER_ID: user.ID,
        PHONE_NUMBER: call.PHONE_NUMBER,
        PORTAL_NUMBER: call.LINE_NUMBER ?? '',
        INCOMING: String(call.TYPE),
        CALL_DURATION: duration,
        CALL_START_DATE: call.CALL_START_DATE,
        CALL_STATUS: duration > 0 ? 1 : 0,
        CALL_VOTE: toInt(param(ctx.params, 'VOTE')) ?? null,
        COST: Number(param(ctx.params, 'COST') ?? 0) || 0,
        COST_CURRENCY: toStr(param(ctx.params, 'COST_CURRENCY')),
        CALL_FAILED_CODE: statusCode,
        CALL_FAILED_REASON: toStr(param(ctx.params, 'FAILED_REASON')),
        REST_APP_ID: ctx.auth.kind === 'oauth' ? '3' : null,
        REST_APP_NAME: ctx.auth.kind === 'oauth' ? 'Leadgate' : null,
        CRM_ACTIVITY_ID: activityId,
        COMMENT: null,
        CRM_ENTITY_TYPE: call.CRM_ENTITY_TYPE,
        CRM_ENTITY_ID: call.CRM_ENTITY_ID,
        ID: ctx.state.nextId('call-statistic'),
      };
      call.finished = finished;
      return { result: finished };
    },
  },
  'telephony.externalcall.attachrecord': {
    scope: 'telephony',
    handler: (ctx) => {
      const callId = toStr(param(ctx.params, 'CALL_ID'));
      const call = ctx.state.externalCalls.get(callId);
      if (!call || !call.finished) throw core('Call is not found in the statistic table. It looks like it is not finished yet.');
      const url = toStr(param(ctx.params, 'RECORD_URL'));
      const content = param(ctx.params, 'FILE_CONTENT');
      const filenameRaw = param(ctx.params, 'FILENAME');
      if (!url && filenameRaw === undefined) throw core('Required parameters are not set. Request should contain either URL or FILENAME parameter');
      const filename = filenameRaw === undefined ? (url.split('?')[0]?.split('/').pop() ?? '') : toStr(filenameRaw);
      if (filename.trim() === '') throw core('File name is empty');
      if (!/\.(mp3|wav)$/i.test(filename)) throw core('Wrong file extension. Only wav and mp3 are allowed');
      if (!url && content === undefined) {
        call.records = [{ FILE_ID: 0, FILENAME: filename, source: 'upload-url', bytes: 0 }];
        const token = Buffer.from(`callId=${call.CALL_ID}`).toString('base64');
        return {
          result: {
            uploadUrl: `${ctx.opts.baseUrl}/rest/upload.json?token=${encodeURIComponent(`telephony|${token}`)}`,
            fieldName: 'file',
          },
        };
      }
      let bytes = 0;
      if (!url) {
        const text = toStr(content).replace(/\s+/g, '');
        if (text === '') throw core('File content is empty.');
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) throw core('File content is not properly encoded. Base64 encoding is expected.');
        bytes = Buffer.from(text, 'base64').length;
      }
      const fileId = ctx.state.nextId('file', 9000);
      call.records = [{ FILE_ID: fileId, FILENAME: filename, source: url ? 'url' : 'content', bytes }];
      return { result: { FILE_ID: fileId } };
    },
  },
};
