/**
 * A short-lived index of what Leadgate itself created, kept in the account's Redis cache:
 * - phone/e-mail/messenger id → contact id. Contacts of an Unsorted item stay hidden from `?query=` until a
 *   manager accepts it (sheet §4.1, §6), and amoCRM's search index may lag: without this, a second inquiry a
 *   minute later would open a second contact.
 * - lead id → delivery key, so crash recovery never claims a lead another delivery created.
 */
import type { CrmIO } from '#sdk';

const TTL_SEC = 30 * 24 * 3600;

export interface IntakeKeys {
  phonesE164: readonly string[];
  emails: readonly string[];
  messengerKey?: string | undefined;
}

const keysOf = (k: IntakeKeys): string[] => [
  ...k.phonesE164.map((p) => `idx:p:${p}`),
  ...k.emails.map((e) => `idx:e:${e.trim().toLowerCase()}`),
  ...(k.messengerKey ? [`idx:m:${k.messengerKey}`] : []),
];

export async function rememberContact(io: CrmIO, contactId: number, k: IntakeKeys): Promise<void> {
  for (const key of keysOf(k)) await io.cache.set(key, String(contactId), TTL_SEC);
}

/** Contact ids remembered for any of these keys, most specific first (phones, then e-mails, then messenger). */
export async function rememberedContacts(io: CrmIO, k: IntakeKeys): Promise<number[]> {
  const out: number[] = [];
  for (const key of keysOf(k)) {
    const v = await io.cache.get(key);
    if (v && /^\d+$/.test(v) && !out.includes(Number(v))) out.push(Number(v));
  }
  return out;
}

export async function rememberLeadOwner(io: CrmIO, leadId: number, deliveryKey: string): Promise<void> {
  await io.cache.set(`own:${leadId}`, deliveryKey, TTL_SEC);
}

/** True when another delivery recorded this lead as its own. */
export async function ownedByOther(io: CrmIO, leadId: number, deliveryKey: string): Promise<boolean> {
  const v = await io.cache.get(`own:${leadId}`);
  return v !== null && v !== deliveryKey;
}
