/**
 * Record types held by the amoCRM emulator. Field names follow the v4 JSON keys
 * (snake_case) so serialisation stays a thin projection.
 * Reference: /work/shared/reference/amocrm.md.
 */

export type EntityType = 'leads' | 'contacts' | 'companies';

/** Field types the emulator validates; the full vendor list is in §11 of the sheet. */
export type FieldType =
  | 'text'
  | 'textarea'
  | 'numeric'
  | 'checkbox'
  | 'select'
  | 'multiselect'
  | 'radiobutton'
  | 'multitext'
  | 'date'
  | 'date_time'
  | 'birthday'
  | 'url'
  | 'tracking_data'
  | 'streetaddress';

export interface EnumDef {
  id: number;
  value: string;
  sort: number;
  /** For multitext fields the enum value *is* the code (`WORK`, `MOB`…). */
  code: string | null;
}

export interface FieldDef {
  id: number;
  name: string;
  code: string | null;
  type: FieldType;
  sort: number;
  entity_type: EntityType;
  is_api_only: boolean;
  is_predefined: boolean;
  is_deletable: boolean;
  group_id: string | null;
  enums: EnumDef[] | null;
}

export interface CfValue {
  value: string | number | boolean;
  enum_id?: number;
  enum_code?: string | null;
}

export interface CfEntry {
  field_id: number;
  field_name: string;
  field_code: string | null;
  field_type: FieldType;
  values: CfValue[];
}

export interface Tag {
  id: number;
  name: string;
  color: null;
}

interface Audited {
  responsible_user_id: number;
  group_id: number;
  created_by: number;
  updated_by: number;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds. */
  updated_at: number;
  is_deleted: boolean;
}

export interface ContactRecord extends Audited {
  id: number;
  name: string;
  first_name: string;
  last_name: string;
  /** Created with an Unsorted item that is not accepted yet: hidden from lists (sheet §4.1, §6). */
  is_unsorted: boolean;
  custom_fields_values: CfEntry[];
  tags: Tag[];
  /** A contact belongs to at most one company (Kommo "subject area"). */
  company_id: number | null;
}

export interface CompanyRecord extends Audited {
  id: number;
  name: string;
  is_unsorted: boolean;
  custom_fields_values: CfEntry[];
  tags: Tag[];
}

export interface LeadContactLink {
  id: number;
  is_main: boolean;
}

export interface LeadRecord extends Audited {
  id: number;
  name: string;
  price: number;
  status_id: number;
  pipeline_id: number;
  loss_reason_id: number | null;
  /** Unix seconds; set when the lead enters 142/143. */
  closed_at: number | null;
  custom_fields_values: CfEntry[];
  tags: Tag[];
  contacts: LeadContactLink[];
  company_id: number | null;
  source_id: number | null;
  visitor_uid: string | null;
}

export type UnsortedCategory = 'forms' | 'sip';

export interface UnsortedRecord {
  uid: string;
  source_uid: string;
  source_name: string;
  category: UnsortedCategory;
  pipeline_id: number;
  /** Unix seconds. */
  created_at: number;
  metadata: Record<string, unknown>;
  lead_ids: number[];
  contact_ids: number[];
  company_ids: number[];
  status: 'pending' | 'accepted' | 'declined';
}

export interface NoteRecord {
  id: number;
  entity_type: EntityType;
  entity_id: number;
  note_type: string;
  params: Record<string, unknown>;
  responsible_user_id: number;
  group_id: number;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  is_pinned: boolean;
}

export interface TaskRecord {
  id: number;
  text: string;
  /** Unix seconds. */
  complete_till: number;
  task_type_id: number;
  entity_id: number | null;
  entity_type: EntityType | null;
  responsible_user_id: number;
  group_id: number;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  /** Seconds. */
  duration: number;
  is_completed: boolean;
  result: { text: string } | null;
}

/** Singular names, as the Calls API returns them (`"entity_type": "lead"`). */
export type CallTargetType = 'lead' | 'contact' | 'company';

export interface CallRecord {
  id: number;
  direction: 'inbound' | 'outbound';
  /** Seconds. */
  duration: number;
  source: string;
  phone: string;
  uniq: string | null;
  link: string | null;
  call_status: number | null;
  call_result: string | null;
  call_responsible: number | string | null;
  responsible_user_id: number;
  created_by: number;
  created_at: number;
  entity_id: number;
  entity_type: CallTargetType;
  note_id: number;
}

export interface StatusDef {
  id: number;
  name: string;
  sort: number;
  is_editable: boolean;
  color: string;
  /** 1 = Unsorted ("Неразобранное"), 0 = regular. */
  type: 0 | 1;
}

export interface PipelineDef {
  id: number;
  name: string;
  sort: number;
  is_main: boolean;
  is_unsorted_on: boolean;
  is_archive: boolean;
  statuses: StatusDef[];
}

export interface UserDef {
  id: number;
  name: string;
  email: string;
  lang: string;
  is_admin: boolean;
  is_active: boolean;
  group_id: number;
}

export interface TaskTypeDef {
  id: number;
  name: string;
  color: string | null;
  icon_id: number | null;
  code: string | null;
}

export interface AccountDef {
  id: number;
  name: string;
  subdomain: string;
  current_user_id: number;
  country: string;
  currency: string;
  currency_symbol: string;
  timezone: string;
  timezone_offset: string;
}

/** Everything that describes the account (not its data). */
export interface AccountMetadata {
  account: AccountDef;
  users: UserDef[];
  pipelines: PipelineDef[];
  fields: FieldDef[];
  taskTypes: TaskTypeDef[];
}
