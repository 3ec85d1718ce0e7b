import type { CrmEntityKind, UserFieldDef, WebhookConfig } from './types.ts';

/** Every scope the emulator knows; webhooks default to all of them. */
export const ALL_SCOPES = ['crm', 'telephony', 'task', 'user', 'im', 'basic'] as const;

export interface UserSeed {
  ID: number;
  NAME: string;
  LAST_NAME: string;
  EMAIL?: string;
  /** Extension number used by `telephony.externalcall.*` (`USER_PHONE_INNER`). */
  UF_PHONE_INNER?: string;
  ACTIVE?: boolean;
}

export interface BitrixEmulatorOptions {
  /** Base URL the portal is reachable at; `startBitrixEmulator` sets it after listening. @defaultValue 'http://127.0.0.1' */
  baseUrl?: string;
  /** Stable portal id returned by the OAuth server. @defaultValue 'a223c6b3710f85df22e9377d6c4f7553' */
  memberId?: string;
  /** Inbound webhooks accepted at `/rest/<userId>/<code>/<method>`. @defaultValue [{ userId: 1, code: 'emulator-secret' }] */
  webhooks?: WebhookConfig[];
  oauth?: {
    /** @defaultValue 'local.emulator0000000.00000000' */
    clientId?: string;
    /** @defaultValue 'emulator-client-secret' */
    clientSecret?: string;
    /** Access-token lifetime in seconds (docs: one hour). @defaultValue 3600 */
    accessTokenTtlSec?: number;
    /** User the app tokens act for. @defaultValue 1 */
    userId?: number;
    /** @defaultValue ['crm', 'telephony', 'task', 'user', 'im', 'basic'] */
    scopes?: string[];
  };
  /** Leaky bucket per portal and caller IP (docs `limits.md`). */
  rateLimit?: {
    /** @defaultValue true */
    enabled?: boolean;
    /** Counter decrease per second (`Y`). Enterprise: 5. @defaultValue 2 */
    drainPerSec?: number;
    /** Threshold `X`; request number X+1 in a burst is refused. Enterprise: 250. @defaultValue 50 */
    burst?: number;
  };
  /** Per-method operating budget in seconds over 10 one-minute buckets. @defaultValue 480 */
  operatingLimitSec?: number;
  /** CRM mode reported by `crm.settings.mode.get`. @defaultValue 'classic' */
  crmMode?: 'classic' | 'simple';
  /** Portal time zone offset used in `date_*` and record dates, minutes east of UTC. @defaultValue 180 */
  utcOffsetMinutes?: number;
  /**
   * Phone comparison in `crm.duplicate.findbycomm`:
   * - `docs`: the number is compared as a whole, only the extension and punctuation are ignored
   *   (`+49 30 1234567` ≠ `49301234567`, docs tutorial `how-to-add-repeat-lead`);
   * - `core`: the legacy `NormalizePhone` rules of the core mirror (leading 8 → 7, 00/011 stripped).
   * @defaultValue 'docs'
   */
  phoneMatch?: 'docs' | 'core';
  /** Unknown `SOURCE_ID` on add/update: docs are silent, legacy core stores it. @defaultValue 'store' */
  unknownSourceId?: 'store' | 'reject';
  /** `telephony.externalcall.register/finish` via webhook: docs say app only (`WRONG_AUTH_TYPE`). @defaultValue 'deny' */
  telephonyWebhookAuth?: 'deny' | 'allow';
  /** More than 50 batch commands: per-command `ERROR_BATCH_LENGTH_EXCEEDED` (docs note) or HTTP 400 for the call. @defaultValue 'per-command' */
  batchOverflow?: 'per-command' | 'reject';
  /** Custom fields per entity; replaces the defaults of that entity. */
  userFields?: Partial<Record<CrmEntityKind, UserFieldDef[]>>;
  /** Portal users. @defaultValue admin 1 (ext 101), manager 7 (ext 107), fired 9 (ext 109, inactive) */
  users?: UserSeed[];
  /** Clock in epoch milliseconds; pass a fake to drive the bucket and token expiry. @defaultValue Date.now */
  now?: () => number;
}

export interface ResolvedOptions {
  baseUrl: string;
  memberId: string;
  webhooks: Required<WebhookConfig>[];
  oauth: { clientId: string; clientSecret: string; accessTokenTtlSec: number; userId: number; scopes: string[] };
  rateLimit: { enabled: boolean; drainPerSec: number; burst: number };
  operatingLimitSec: number;
  crmMode: 'classic' | 'simple';
  utcOffsetMinutes: number;
  phoneMatch: 'docs' | 'core';
  unknownSourceId: 'store' | 'reject';
  telephonyWebhookAuth: 'deny' | 'allow';
  batchOverflow: 'per-command' | 'reject';
  userFields: Record<CrmEntityKind, UserFieldDef[]>;
  users: UserSeed[];
  now: () => number;
}

export const DEFAULT_USER_FIELDS: Readonly<Record<CrmEntityKind, UserFieldDef[]>> = {
  lead: [
    { code: 'UF_CRM_1704817278', type: 'string', label: 'Yandex click id' },
    {
      code: 'UF_CRM_LEAD_CHANNEL',
      type: 'enumeration',
      label: 'Intake channel',
      items: [
        { ID: '44', VALUE: 'Site form' },
        { ID: '45', VALUE: 'Telegram' },
        { ID: '46', VALUE: 'Phone call' },
      ],
    },
  ],
  deal: [{ code: 'UF_CRM_1721244482250', type: 'string', label: 'Hub event id' }],
  contact: [{ code: 'UF_CRM_TELEGRAM_ID', type: 'string', label: 'Telegram user id' }],
  company: [],
};

export const DEFAULT_USERS: readonly UserSeed[] = [
  { ID: 1, NAME: 'Admin', LAST_NAME: 'Portal', EMAIL: 'admin@example.com', UF_PHONE_INNER: '101', ACTIVE: true },
  { ID: 7, NAME: 'Anna', LAST_NAME: 'Manager', EMAIL: 'anna@example.com', UF_PHONE_INNER: '107', ACTIVE: true },
  { ID: 9, NAME: 'Fired', LAST_NAME: 'Employee', EMAIL: 'fired@example.com', UF_PHONE_INNER: '109', ACTIVE: false },
];

export function resolveOptions(o: BitrixEmulatorOptions = {}): ResolvedOptions {
  const webhooks = (o.webhooks ?? [{ userId: 1, code: 'emulator-secret' }]).map((w) => ({
    userId: w.userId,
    code: w.code,
    scopes: w.scopes ?? [...ALL_SCOPES],
  }));
  return {
    baseUrl: (o.baseUrl ?? 'http://127.0.0.1').replace(/\/+$/, ''),
    memberId: o.memberId ?? 'a223c6b3710f85df22e9377d6c4f7553',
    webhooks,
    oauth: {
      clientId: o.oauth?.clientId ?? 'local.emulator0000000.00000000',
      clientSecret: o.oauth?.clientSecret ?? 'emulator-client-secret',
      accessTokenTtlSec: o.oauth?.accessTokenTtlSec ?? 3600,
      userId: o.oauth?.userId ?? 1,
      scopes: o.oauth?.scopes ?? [...ALL_SCOPES],
    },
    rateLimit: {
      enabled: o.rateLimit?.enabled ?? true,
      drainPerSec: o.rateLimit?.drainPerSec ?? 2,
      burst: o.rateLimit?.burst ?? 50,
    },
    operatingLimitSec: o.operatingLimitSec ?? 480,
    crmMode: o.crmMode ?? 'classic',
    utcOffsetMinutes: o.utcOffsetMinutes ?? 180,
    phoneMatch: o.phoneMatch ?? 'docs',
    unknownSourceId: o.unknownSourceId ?? 'store',
    telephonyWebhookAuth: o.telephonyWebhookAuth ?? 'deny',
    batchOverflow: o.batchOverflow ?? 'per-command',
    userFields: {
      lead: o.userFields?.lead ?? DEFAULT_USER_FIELDS.lead,
      deal: o.userFields?.deal ?? DEFAULT_USER_FIELDS.deal,
      contact: o.userFields?.contact ?? DEFAULT_USER_FIELDS.contact,
      company: o.userFields?.company ?? DEFAULT_USER_FIELDS.company,
    },
    users: o.users ?? [...DEFAULT_USERS],
    now: o.now ?? Date.now,
  };
}
