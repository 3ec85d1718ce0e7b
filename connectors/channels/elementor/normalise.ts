/** Elementor Pro form webhook (Advanced Data on or off) → Lead. Pure. */
import type { Attachment, NormaliseContext, Outcome, Tracking } from '#sdk';
import { extractAttribution, isAttributionKey } from '#sdk';
import { bodyHashId, fillTitle, firstText, isEmptyLead, mapFormEntries, type FormEntry } from '../form/fields.ts';
import type { ElementorPayload, ElementorSettings } from './payload.ts';

/** Field types that carry no customer data (Elementor blocks a filled honeypot itself). */
const NO_DATA_TYPES = new Set(['honeypot', 'recaptcha', 'recaptcha_v3', 'html', 'step', 'turnstile']);

/**
 * Meta rows by key (Advanced Data) and by title (flat mode). Titles are translated with the site
 * language; the Russian ones here are our guess at the translation (unconfirmed), English is Elementor's source.
 */
type MetaRole = 'pageUrl' | 'ip' | 'userAgent' | 'drop' | 'field';
const META_KEYS: Record<string, MetaRole> = {
  page_url: 'pageUrl',
  remote_ip: 'ip',
  user_agent: 'userAgent',
  date: 'drop',
  time: 'drop',
  credit: 'drop',
  page_title: 'field',
};
const META_TITLES: Record<string, MetaRole> = {
  'page url': 'pageUrl',
  'url страницы': 'pageUrl',
  'remote ip': 'ip',
  'удалённый ip': 'ip',
  'удаленный ip': 'ip',
  'user agent': 'userAgent',
  date: 'drop',
  дата: 'drop',
  time: 'drop',
  время: 'drop',
  'powered by': 'drop',
  'page title': 'field',
};
const NO_LABEL = /^No Label (.+)$/;

interface Collected {
  entries: FormEntry[];
  attachments: Attachment[];
  /** `[name, value]` pairs for attribution: field ids and labels, hidden ones included. */
  attributionPairs: [string, string][];
  pageUrl?: string;
  ip?: string;
  userAgent?: string;
  formName?: string;
}

export function normaliseElementor(p: ElementorPayload, ctx: NormaliseContext<ElementorSettings>): Outcome[] {
  const got = p.fields !== undefined ? collectAdvanced(p) : collectFlat(p);
  const mapped = mapFormEntries(got.entries, ctx.settings.fields, ctx.defaultRegion);
  if (isEmptyLead(mapped) && got.attachments.length === 0) {
    return [{ kind: 'ignored', reason: { code: 'elementor:empty', detail: 'the submission has no filled fields' } }];
  }
  const { utm, tracking: clickIds } = extractAttribution({ fields: got.attributionPairs, urls: [got.pageUrl] });
  const tracking: Tracking = {
    ...(got.pageUrl ? { pageUrl: got.pageUrl } : {}),
    ...clickIds,
    ...(got.ip ? { ip: got.ip } : {}),
    ...(got.userAgent ? { userAgent: got.userAgent } : {}),
  };
  return [
    {
      kind: 'lead',
      lead: {
        source: ctx.source,
        // Elementor sends no submission id and never retries: the body hash is the id.
        externalId: bodyHashId(ctx.raw),
        ...(got.formName ? { formName: got.formName } : {}),
        title: fillTitle(ctx.settings.title, { form: got.formName }, 'Заявка с сайта'),
        contact: mapped.contact,
        ...(mapped.message ? { message: mapped.message } : {}),
        utm,
        tracking,
        fields: mapped.fields,
        attachments: got.attachments,
        occurredAt: ctx.receivedAt.toISOString(),
      },
    },
  ];
}

/** Advanced Data ON: `fields[<id>][…]` and `meta[<key>][title|value]`. */
function collectAdvanced(p: ElementorPayload): Collected {
  const out: Collected = { entries: [], attachments: [], attributionPairs: [], formName: firstText(p.form?.name, p.form?.id) };
  for (const [key, f] of Object.entries(p.fields ?? {})) {
    const id = firstText(f.id) ?? key;
    const title = firstText(f.title) ?? id;
    const type = firstText(f.type)?.toLowerCase();
    const value = valueText(f.value);
    if ((type && NO_DATA_TYPES.has(type)) || value === undefined) continue;
    out.attributionPairs.push([id, value], [title, value]);
    if (isAttributionKey(id) || isAttributionKey(title)) continue;
    if (type === 'upload') {
      out.attachments.push(...uploads(value));
      continue;
    }
    out.entries.push({ key: id, label: title, value, ...(type ? { type } : {}), ...(key !== id ? { aliases: [key] } : {}) });
  }
  for (const [key, row] of Object.entries(p.meta ?? {})) {
    const value = firstText(row.value);
    if (value === undefined) continue;
    applyMeta(out, META_KEYS[key.toLowerCase()], `meta[${key}]`, firstText(row.title) ?? key, value);
  }
  return out;
}

/** Advanced Data OFF: `<label>=<value>` plus meta rows under their titles and `form_id`/`form_name`. */
function collectFlat(p: ElementorPayload): Collected {
  const out: Collected = { entries: [], attachments: [], attributionPairs: [], formName: firstText(p.form_name, p.form_id) };
  for (const [label, raw] of Object.entries(p)) {
    if (label === 'form_id' || label === 'form_name') continue;
    const value = valueText(raw);
    if (value === undefined) continue;
    const metaRole = META_TITLES[label.trim().toLowerCase()];
    if (metaRole) {
      applyMeta(out, metaRole, label, label, value);
      continue;
    }
    // An unlabelled field arrives as "No Label <custom_id>": the id is the better name.
    const id = NO_LABEL.exec(label)?.[1];
    out.attributionPairs.push([label, value]);
    if (id) out.attributionPairs.push([id, value]);
    if (isAttributionKey(label) || (id && isAttributionKey(id))) continue;
    out.entries.push({ key: id ?? label, label, value });
  }
  return out;
}

function applyMeta(out: Collected, role: MetaRole | undefined, key: string, label: string, value: string): void {
  if (role === 'pageUrl') out.pageUrl = value;
  else if (role === 'ip') out.ip = value;
  else if (role === 'userAgent') out.userAgent = value;
  else if (role === 'drop') return;
  // Unknown meta rows (a newer Elementor) and the page title go to the note.
  else out.entries.push({ key, label, value });
}

function valueText(v: unknown): string | undefined {
  if (Array.isArray(v)) {
    const parts = v.map((x) => firstText(x)).filter((x): x is string => x !== undefined);
    return parts.length ? parts.join(', ') : undefined;
  }
  if (typeof v === 'boolean') return v ? 'yes' : undefined;
  return firstText(v);
}

/** Upload fields hold the file URL(s), comma-separated; `attached` when the files went only into the e-mail. */
function uploads(value: string): Attachment[] {
  return value
    .split(/\s*,\s*/)
    .filter((u) => /^https?:\/\//i.test(u))
    .map((url) => {
      const name = decodeURIComponentSafe(url.split(/[?#]/)[0]!.split('/').pop() ?? '');
      return name ? { name, url } : { url };
    });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
