/**
 * Shared types of the Bitrix24 REST emulator.
 * Vendor reference: ../../../../shared/reference/bitrix24.md and https://apidocs.bitrix24.com/
 */

/** CRM object kinds the emulator stores. `ownerTypeId` codes: 1 lead, 2 deal, 3 contact, 4 company. */
export type CrmEntityKind = 'lead' | 'deal' | 'contact' | 'company';

export const OWNER_TYPE_ID: Readonly<Record<CrmEntityKind, number>> = { lead: 1, deal: 2, contact: 3, company: 4 };

/** A stored CRM record, shaped like `crm.*.get` output (IDs and numbers as strings, multifields as arrays). */
export type CrmItem = Record<string, unknown>;

export interface MultiFieldValue {
  ID: string;
  VALUE_TYPE: string;
  VALUE: string;
  TYPE_ID: string;
}

/** Custom field (`UF_CRM_*`) definition as `crm.*.fields` reports it. */
export interface UserFieldDef {
  /** Field code, e.g. `UF_CRM_1704817278`. */
  code: string;
  /** Bitrix user type: `string`, `integer`, `double`, `boolean`, `enumeration`, `datetime`, `url`, `crm`, … */
  type: string;
  /** Human label (`listLabel`/`formLabel`/`filterLabel`); `title` stays the code, as on real portals. */
  label: string;
  isRequired?: boolean;
  isMultiple?: boolean;
  /** Enumeration items (`type: 'enumeration'`). */
  items?: { ID: string; VALUE: string }[];
}

export interface WebhookConfig {
  userId: number;
  /** The secret path segment of the inbound webhook URL. */
  code: string;
  /** Scopes ticked on the webhook; `batch` needs none. @defaultValue all scopes */
  scopes?: readonly string[];
}

export type AuthInfo =
  | { kind: 'webhook'; userId: number; scopes: readonly string[]; key: string }
  | { kind: 'oauth'; userId: number; scopes: readonly string[]; key: string; accessToken: string };

/** A REST error: `{error, error_description}` with an HTTP status. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
  ) {
    super(`${status} ${code}: ${description}`);
    this.name = 'RestError';
  }
}

/** What a method handler returns: the `result` plus list paging fields. */
export interface MethodOutput {
  result: unknown;
  total?: number;
  next?: number;
}

export type Params = Record<string, unknown>;
