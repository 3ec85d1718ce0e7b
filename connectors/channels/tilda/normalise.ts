/** Tilda form / shop cart → Lead. Pure. */
import type { Contact, NormaliseContext, Order, Outcome, Tracking } from '#sdk';
import { extractAttribution, isAttributionKey } from '#sdk';
import { bodyHashId, fillTitle, filesToAttachments, firstText, flattenBody, isEmptyLead, isRecord, mapFormEntries } from '../form/fields.ts';
import type { TildaPayload, TildaPayment, TildaSettings } from './payload.ts';

/** Keys Tilda adds itself; never shown as form fields. (`test` is one only on the check request, handled first.) */
const SERVICE_KEYS = new Set(['tranid', 'formid', 'formname', 'cookies', 'referer', 'payment', 'paymentsystem', '__files', 'ma_name', 'ma_email', 'ma_phone']);

export function isTildaTestPing(p: TildaPayload): boolean {
  return firstText(p.test) === 'test' && firstText(p.tranid) === undefined && firstText(p.formid) === undefined;
}

/** `tranid`, else the cart's `payment.orderid` (as `order:<id>`), else undefined (the gateway hashes the body). */
export function tildaEventId(p: TildaPayload): string | undefined {
  const tranid = firstText(p.tranid);
  if (tranid !== undefined) return tranid;
  const orderId = firstText(p.payment?.orderid);
  return orderId !== undefined ? `order:${orderId}` : undefined;
}

export function normaliseTilda(p: TildaPayload, ctx: NormaliseContext<TildaSettings>): Outcome[] {
  if (isTildaTestPing(p)) return [{ kind: 'ignored', reason: { code: 'tilda:test-ping', detail: 'Tilda check request (test=test)' } }];
  const s = ctx.settings;

  // Tilda variable names cannot hold spaces (`Выберите_сеанс`): show them as words in the note.
  const entries = flattenBody(p, (k) => SERVICE_KEYS.has(k.toLowerCase()) || isAttributionKey(k)).map((e) => ({
    ...e,
    label: e.key === 'ma_id' ? 'ID в личном кабинете' : e.label.replace(/_/g, ' ').trim() || e.key,
  }));
  const mapped = mapFormEntries(entries, s.fields, ctx.defaultRegion);
  // Members area: the logged-in user's own data fills what the form did not ask for.
  const member = mapFormEntries(
    [
      { key: 'name', label: 'ma_name', value: firstText(p['ma_name']) ?? '' },
      { key: 'phone', label: 'ma_phone', value: firstText(p['ma_phone']) ?? '' },
      { key: 'email', label: 'ma_email', value: firstText(p['ma_email']) ?? '' },
    ],
    undefined,
    ctx.defaultRegion,
  );
  const c = mapped.contact;
  const name = c.name ?? member.contact.name;
  const contact: Contact = {
    ...(name !== undefined ? { name } : {}),
    phonesE164: union(c.phonesE164, member.contact.phonesE164),
    phonesUnparsed: union(c.phonesUnparsed, member.contact.phonesUnparsed),
    emails: union(c.emails, member.contact.emails),
    ...(c.company !== undefined ? { company: c.company } : {}),
  };
  const fields = [...mapped.fields, ...member.fields];

  const order = p.payment ? buildOrder(p.payment, firstText(p.paymentsystem), s.currency) : undefined;
  const attachments = filesToAttachments(p.__files);
  if (!order && attachments.length === 0 && isEmptyLead({ contact, message: mapped.message, fields })) {
    return [{ kind: 'ignored', reason: { code: 'tilda:empty', detail: 'the submission has no filled fields' } }];
  }

  const referer = firstText(p.referer);
  const { utm, tracking: clickIds } = extractAttribution({ fields: p, cookies: firstText(p.COOKIES), urls: [referer] });
  const tracking: Tracking = { ...(referer ? { pageUrl: referer } : {}), ...clickIds };

  const formName = firstText(p.formname, p.formid);
  const title = order
    ? fillTitle(s.orderTitle, { order: order.id, form: formName }, 'Заказ с сайта')
    : fillTitle(s.title, { form: formName }, 'Заявка с сайта');
  return [
    {
      kind: 'lead',
      lead: {
        source: ctx.source,
        externalId: tildaEventId(p) ?? bodyHashId(ctx.raw),
        ...(formName ? { formName } : {}),
        title,
        contact,
        ...(mapped.message ? { message: mapped.message } : {}),
        utm,
        tracking,
        fields,
        attachments,
        ...(order ? { order } : {}),
        occurredAt: ctx.receivedAt.toISOString(),
      },
    },
  ];
}

type OrderItem = Order['items'][number];

export function buildOrder(pay: TildaPayment, paymentSystemTop: string | undefined, currencySetting: string | undefined): Order {
  const items = productsOf(pay.products);
  const amount = toAmount(pay.amount) ?? sumOf(items);
  const currency = firstText(pay.currency) ?? currencySetting;
  const paymentSystem = firstText(pay.sys, paymentSystemTop);
  const id = firstText(pay.orderid);
  const money = (n: number): string => (currency ? `${fmt(n)} ${currency}` : fmt(n));

  const lines = items.map((it) => {
    if (it.quantity !== undefined && it.price !== undefined) {
      return `${it.name} — ${fmt(it.quantity)} × ${fmt(it.price)}${it.amount !== undefined ? ` = ${fmt(it.amount)}` : ''}`;
    }
    if (it.amount !== undefined) return `${it.name} — ${it.quantity !== undefined ? `${fmt(it.quantity)} шт., ` : ''}${fmt(it.amount)}`;
    return it.name;
  });
  const promocode = firstText(pay.promocode);
  if (promocode) lines.push(`Промокод: ${promocode}`);
  const discount = firstText(pay.discount);
  if (discount && discount !== '0') lines.push(`Скидка: ${discount}`);
  const delivery = firstText(pay.delivery);
  const deliveryPrice = toAmount(pay.delivery_price);
  if (delivery || deliveryPrice) lines.push(`Доставка: ${[delivery, deliveryPrice ? fmt(deliveryPrice) : undefined].filter(Boolean).join(' — ')}`);
  const address = [pay.delivery_zip, pay.delivery_city, pay.delivery_address].map((v) => firstText(v)).filter(Boolean).join(', ');
  if (address) lines.push(`Адрес доставки: ${address}`);
  const recipient = firstText(pay.delivery_fio);
  if (recipient) lines.push(`Получатель: ${recipient}`);
  const deliveryComment = firstText(pay.delivery_comment);
  if (deliveryComment) lines.push(`Комментарий к доставке: ${deliveryComment}`);
  if (paymentSystem) lines.push(`Оплата: ${paymentSystem}`);
  if (amount !== undefined) lines.push(`Итого: ${money(amount)}`);

  return {
    ...(id ? { id } : {}),
    ...(amount !== undefined ? { amount } : {}),
    ...(currency ? { currency } : {}),
    ...(paymentSystem ? { paymentSystem } : {}),
    items,
    ...(lines.length ? { summary: lines.join('\n') } : {}),
  };
}

const TEXT_LINE = /^(.*?)\s*-\s*(\d+(?:[.,]\d+)?)\s*[xх×]\s*(\d+(?:[.,]\d+)?)\s*=\s*(\d+(?:[.,]\d+)?)\s*$/u;

function productsOf(products: TildaPayment['products']): OrderItem[] {
  if (products === undefined) return [];
  const list = typeof products === 'string' ? products.split(/\r?\n/).filter((l) => l.trim() !== '') : Array.isArray(products) ? products : Object.values(products);
  return list.map((pr, i): OrderItem => {
    if (typeof pr === 'string') {
      const m = TEXT_LINE.exec(pr.trim());
      if (!m) return { name: pr.trim() };
      return compact({ name: m[1] || `Товар ${i + 1}`, quantity: toAmount(m[2]), price: toAmount(m[3]), amount: toAmount(m[4]) });
    }
    const options = (Array.isArray(pr.options) ? pr.options : isRecord(pr.options) ? Object.values(pr.options) : [])
      .map((o) => [firstText(o.option), firstText(o.variant)].filter(Boolean).join(': '))
      .filter(Boolean);
    const name = `${firstText(pr.name) ?? `Товар ${i + 1}`}${options.length ? ` (${options.join(', ')})` : ''}`;
    const quantity = toAmount(pr.quantity);
    const price = toAmount(pr.price);
    const amount = toAmount(pr.amount) ?? (quantity !== undefined && price !== undefined ? round2(quantity * price) : undefined);
    return compact({ name, quantity, price, amount, sku: firstText(pr.sku) });
  });
}

/** `"1622.3"`, `"1 622,30"`, `"1,622.30"`, `1622.3` → 1622.3; anything else → undefined. */
export function toAmount(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  let t = v.replace(/[\s\u00a0\u202f]/g, '').replace(/[^\d.,-]/g, '');
  if (t === '' || t === '-') return undefined;
  if (t.includes(',') && t.includes('.')) t = t.replace(/,/g, '');
  else t = t.replace(',', '.');
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function sumOf(items: readonly OrderItem[]): number | undefined {
  const amounts = items.map((i) => i.amount);
  if (amounts.length === 0 || amounts.some((a) => a === undefined)) return undefined;
  return round2(amounts.reduce((a: number, b) => a + (b ?? 0), 0));
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function fmt(n: number): string {
  return String(n);
}

function compact(item: { name: string; quantity?: number | undefined; price?: number | undefined; amount?: number | undefined; sku?: string | undefined }): OrderItem {
  const out: OrderItem = { name: item.name };
  if (item.quantity !== undefined) out.quantity = item.quantity;
  if (item.price !== undefined) out.price = item.price;
  if (item.amount !== undefined) out.amount = item.amount;
  if (item.sku !== undefined) out.sku = item.sku;
  return out;
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...a, ...b.filter((x) => !a.includes(x))];
}
