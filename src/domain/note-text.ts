import type { Lead, FollowUp } from '../sdk/lead.ts';
import { formatPhone, type PhoneFormat } from './phone.ts';

const UTM_LABELS: [keyof Lead['utm'], string][] = [
  ['source', 'utm_source'],
  ['medium', 'utm_medium'],
  ['campaign', 'utm_campaign'],
  ['content', 'utm_content'],
  ['term', 'utm_term'],
];
const TRACKING_LABELS: [keyof Lead['tracking'], string][] = [
  ['pageUrl', 'Страница'],
  ['landingUrl', 'Страница входа'],
  ['referrer', 'Откуда пришёл'],
  ['yclid', 'yclid'],
  ['gclid', 'gclid'],
  ['fbclid', 'fbclid'],
  ['ymUid', '_ym_uid'],
  ['gaClientId', 'GA client id'],
  ['roistat', 'roistat_visit'],
  ['openstat', 'openstat'],
  ['ip', 'IP'],
];

/** The whole inquiry as a note a manager reads: who, what, which page and campaign. Pure. */
export function renderLeadNote(lead: Lead, phoneFormat: PhoneFormat = 'ru-display'): string {
  const lines: string[] = [`${lead.title}`, `Источник: ${lead.source.name}${lead.formName ? ` / ${lead.formName}` : ''}`];
  const c = lead.contact;
  if (c.name) lines.push(`Имя: ${c.name}`);
  const phones = [...c.phonesE164.map((p) => formatPhone(p, phoneFormat)), ...c.phonesUnparsed.map((p) => `${p} (не распознан)`)];
  if (phones.length) lines.push(`Телефон: ${phones.join(', ')}`);
  if (c.emails.length) lines.push(`E-mail: ${c.emails.join(', ')}`);
  if (c.company) lines.push(`Компания: ${c.company}`);
  if (c.messenger) lines.push(`${c.messenger.kind}: ${c.messenger.username ? '@' + c.messenger.username : c.messenger.userId}`);
  if (lead.message) lines.push('', lead.message, '');
  if (lead.order) {
    const o = lead.order;
    lines.push(`Заказ${o.id ? ` №${o.id}` : ''}${o.amount !== undefined ? `: ${o.amount}${o.currency ? ' ' + o.currency : ''}` : ''}`);
    if (o.summary) lines.push(o.summary);
  }
  for (const f of lead.fields) lines.push(`${f.label}: ${f.value}`);
  const utm = UTM_LABELS.filter(([k]) => lead.utm[k]).map(([k, label]) => `${label}=${lead.utm[k]}`);
  if (utm.length) lines.push(`UTM: ${utm.join(', ')}`);
  for (const [k, label] of TRACKING_LABELS) if (lead.tracking[k]) lines.push(`${label}: ${lead.tracking[k]}`);
  for (const a of lead.attachments) lines.push(`Вложение: ${a.name ?? a.ref ?? 'файл'}${a.url ? ` ${a.url}` : ''}`);
  return lines.join('\n').replace(/\n{3,}/g, '\n\n').trim();
}

export function renderFollowUpNote(m: FollowUp): string {
  const lines = [`Новое сообщение (${m.source.name}):`, m.text];
  for (const a of m.attachments) lines.push(`Вложение: ${a.name ?? a.ref ?? 'файл'}${a.url ? ` ${a.url}` : ''}`);
  return lines.join('\n').trim();
}

/** Due time computed from the receive time, so a retried job writes the same task, not a later one. */
export function dueAt(receivedAtIso: string, minutes: number): string {
  return new Date(Date.parse(receivedAtIso) + minutes * 60_000).toISOString();
}
