/** Generic site form → Lead. Pure. */
import type { NormaliseContext, Outcome, Tracking } from '#sdk';
import { extractAttribution, isAttributionKey } from '#sdk';
import { bodyHashId, fillTitle, filesToAttachments, firstText, flattenBody, getCi, isEmptyLead, isRecord, mapFormEntries } from './fields.ts';
import type { FormPayload, FormSettings } from './payload.ts';

/** Keys we read as the sender's submission id, in priority order. */
export const EVENT_ID_KEYS = ['event_id', 'submission_id', 'id'] as const;
const FORM_NAME_KEYS = ['form_name', 'formname', 'form_title'];
const FORM_ID_KEYS = ['form_id', 'formid'];
const PAGE_URL_KEYS = ['page_url', 'pageurl', 'page', 'url', '_url'];
const REFERRER_KEYS = ['referrer', 'referer', 'document_referrer'];
const LANDING_KEYS = ['landing_url', 'landing_page', 'landing'];
const IP_KEYS = ['ip', 'remote_ip', '_remote_ip', 'client_ip'];
const USER_AGENT_KEYS = ['user_agent', '_user_agent', 'useragent'];
/** Plumbing that is not the customer's words: captcha tokens, CF7 internals, redirect targets. */
const PLUMBING = new Set(['g-recaptcha-response', 'smart-token', 'cf-turnstile-response', 'form_ts', 'redirect', '_redirect', '_wpnonce', '__files']);

export function formEventId(p: FormPayload): string | undefined {
  for (const k of EVENT_ID_KEYS) {
    const v = firstText(p[k]);
    if (v !== undefined) return v;
  }
  return undefined;
}

export function normaliseForm(p: FormPayload, ctx: NormaliseContext<FormSettings>): Outcome[] {
  const s = ctx.settings;
  const honeypots = s.honeypot.map((h) => h.toLowerCase());
  for (const [k, v] of Object.entries(p)) {
    if (honeypots.includes(k.toLowerCase()) && firstText(v) !== undefined) {
      return [{ kind: 'ignored', reason: { code: 'form:honeypot', detail: `honeypot field "${k}" is filled` } }];
    }
  }

  const service = new Set<string>([...EVENT_ID_KEYS, ...FORM_NAME_KEYS, ...FORM_ID_KEYS, 'form', ...PAGE_URL_KEYS, ...REFERRER_KEYS, ...LANDING_KEYS, ...IP_KEYS, ...USER_AGENT_KEYS, ...PLUMBING, ...honeypots, (s.redirectField ?? '_redirect').toLowerCase()]);
  const skip = (key: string): boolean => {
    const k = key.toLowerCase();
    return service.has(k) || k.startsWith('_wpcf7') || isAttributionKey(k);
  };
  const mapped = mapFormEntries(flattenBody(p, skip), s.fields, ctx.defaultRegion);
  const attachments = filesToAttachments(p.__files);
  if (isEmptyLead(mapped) && attachments.length === 0) {
    return [{ kind: 'ignored', reason: { code: 'form:empty', detail: 'the submission has no filled fields' } }];
  }

  // A browser posting straight to us sends Referer; server-side senders (WordPress plugins) normally do not.
  // So the Referer header stands for the form page, and only then are the request's IP and user agent the visitor's.
  const refererHeader = ctx.raw.headers['referer'];
  const pageUrl = firstText(getCi(p, PAGE_URL_KEYS), refererHeader);
  const referrer = firstText(getCi(p, REFERRER_KEYS));
  const landingUrl = firstText(getCi(p, LANDING_KEYS));
  const ip = firstText(getCi(p, IP_KEYS), refererHeader ? ctx.raw.ip : undefined);
  const userAgent = firstText(getCi(p, USER_AGENT_KEYS), refererHeader ? ctx.raw.headers['user-agent'] : undefined);
  const { utm, tracking: clickIds } = extractAttribution({ fields: p, urls: [landingUrl, pageUrl, referrer] });
  const tracking: Tracking = {
    ...(referrer ? { referrer } : {}),
    ...(pageUrl ? { pageUrl } : {}),
    ...(landingUrl ? { landingUrl } : {}),
    ...clickIds,
    ...(ip ? { ip } : {}),
    ...(userAgent ? { userAgent } : {}),
  };

  // `form` may be a name (`form=Контакты`) or an object (`form[name]=…&form[id]=…`).
  const form = getCi(p, ['form']);
  const formObj = isRecord(form) ? form : {};
  const formName = firstText(getCi(p, FORM_NAME_KEYS), formObj['name'], formObj['title'], typeof form === 'string' ? form : undefined, s.formName, getCi(p, FORM_ID_KEYS), formObj['id']);
  return [
    {
      kind: 'lead',
      lead: {
        source: ctx.source,
        externalId: formEventId(p) ?? bodyHashId(ctx.raw),
        ...(formName ? { formName } : {}),
        title: fillTitle(s.title, { form: formName }, 'Заявка с сайта'),
        contact: mapped.contact,
        ...(mapped.message ? { message: mapped.message } : {}),
        utm,
        tracking,
        fields: mapped.fields,
        attachments,
        occurredAt: ctx.receivedAt.toISOString(),
      },
    },
  ];
}
