/**
 * Seed data: standard field catalogues of the legacy `crm.*.fields` methods, the default
 * `crm.status` directory and the deal pipelines. Shapes and default values from the docs:
 * `crm-lead-fields.md`, `crm-lead-add.md` (default sources and lead stages),
 * `crm-status-list.md` (deal stages), `crm-category-list.md` (pipelines, default id 0).
 */
import type { CrmEntityKind, UserFieldDef } from './types.ts';

export interface FieldMeta {
  type: string;
  isRequired: boolean;
  isReadOnly: boolean;
  isImmutable: boolean;
  isMultiple: boolean;
  isDynamic: boolean;
  title: string;
  statusType?: string;
  listLabel?: string;
  formLabel?: string;
  filterLabel?: string;
  settings?: Record<string, unknown>;
  items?: { ID: string; VALUE: string }[];
}

/** [code, type, flags, title, statusType]; flags: r read-only, m multiple, i immutable. */
type Spec = readonly [string, string, string?, string?, string?];

const ADDRESS: Spec[] = [
  ['ADDRESS', 'string', '', 'Address'],
  ['ADDRESS_2', 'string', '', 'Address (line 2)'],
  ['ADDRESS_CITY', 'string', '', 'City'],
  ['ADDRESS_POSTAL_CODE', 'string', '', 'Zip'],
  ['ADDRESS_REGION', 'string', '', 'Region'],
  ['ADDRESS_PROVINCE', 'string', '', 'State / Province'],
  ['ADDRESS_COUNTRY', 'string', '', 'Country'],
  ['ADDRESS_COUNTRY_CODE', 'string', '', 'Country Code'],
];
const UTM: Spec[] = [
  ['UTM_SOURCE', 'string', '', 'Advertising System'],
  ['UTM_MEDIUM', 'string', '', 'Traffic Type'],
  ['UTM_CAMPAIGN', 'string', '', 'Advertising Campaign Label'],
  ['UTM_CONTENT', 'string', '', 'Campaign Content'],
  ['UTM_TERM', 'string', '', 'Campaign Search Term'],
];
const MULTI: Spec[] = [
  ['PHONE', 'crm_multifield', 'm', 'Phone'],
  ['EMAIL', 'crm_multifield', 'm', 'E-mail'],
  ['WEB', 'crm_multifield', 'm', 'Website'],
  ['IM', 'crm_multifield', 'm', 'Messenger'],
  ['LINK', 'crm_multifield', 'm', 'LINK'],
];
const AUDIT: Spec[] = [
  ['ASSIGNED_BY_ID', 'user', '', 'Responsible person'],
  ['CREATED_BY_ID', 'user', 'r', 'Created by'],
  ['MODIFY_BY_ID', 'user', 'r', 'Modified by'],
  ['DATE_CREATE', 'datetime', 'r', 'Created on'],
  ['DATE_MODIFY', 'datetime', 'r', 'Modified on'],
];
const ORIGIN: Spec[] = [
  ['ORIGINATOR_ID', 'string', '', 'External source'],
  ['ORIGIN_ID', 'string', '', 'Item ID in data source'],
];
const ACTIVITY: Spec[] = [
  ['LAST_ACTIVITY_TIME', 'datetime', 'r', 'Last activity'],
  ['LAST_ACTIVITY_BY', 'user', 'r', 'Last activity by'],
];

const SPECS: Record<CrmEntityKind, Spec[]> = {
  lead: [
    ['ID', 'integer', 'r', 'ID'],
    ['TITLE', 'string', '', 'Lead Title'],
    ['HONORIFIC', 'crm_status', '', 'Salutation', 'HONORIFIC'],
    ['NAME', 'string', '', 'First Name'],
    ['SECOND_NAME', 'string', '', 'Middle Name'],
    ['LAST_NAME', 'string', '', 'Last Name'],
    ['BIRTHDATE', 'date', '', 'Birthdate'],
    ['COMPANY_TITLE', 'string', '', 'Company Name'],
    ['SOURCE_ID', 'crm_status', '', 'Source', 'SOURCE'],
    ['SOURCE_DESCRIPTION', 'string', '', 'Source Description'],
    ['STATUS_ID', 'crm_status', '', 'Stage', 'STATUS'],
    ['STATUS_DESCRIPTION', 'string', '', 'Stage Description'],
    ['STATUS_SEMANTIC_ID', 'string', 'r', 'Status Semantic'],
    ['POST', 'string', '', 'Position'],
    ...ADDRESS,
    ['CURRENCY_ID', 'crm_currency', '', 'Currency'],
    ['OPPORTUNITY', 'double', '', 'Amount'],
    ['IS_MANUAL_OPPORTUNITY', 'char', '', 'IS_MANUAL_OPPORTUNITY'],
    ['OPENED', 'char', '', 'Available to everyone'],
    ['COMMENTS', 'string', '', 'Comment'],
    ['HAS_PHONE', 'char', 'r', 'Has phone'],
    ['HAS_EMAIL', 'char', 'r', 'Has email'],
    ['HAS_IMOL', 'char', 'r', 'Has Open Channel'],
    ...AUDIT,
    ['COMPANY_ID', 'crm_company', '', 'Company'],
    ['CONTACT_ID', 'crm_contact', '', 'Contact'],
    ['CONTACT_IDS', 'crm_contact', 'm', 'CONTACT_IDS'],
    ['IS_RETURN_CUSTOMER', 'char', 'r', 'Returning Lead'],
    ['DATE_CLOSED', 'datetime', 'r', 'Completed on'],
    ...ORIGIN,
    ['MOVED_BY_ID', 'user', 'r', 'Stage changed by'],
    ['MOVED_TIME', 'datetime', 'r', 'Stage change date'],
    ...UTM,
    ...ACTIVITY,
    ...MULTI,
  ],
  deal: [
    ['ID', 'integer', 'r', 'ID'],
    ['TITLE', 'string', '', 'Name'],
    ['TYPE_ID', 'crm_status', '', 'Type', 'DEAL_TYPE'],
    ['CATEGORY_ID', 'crm_category', 'i', 'Pipeline'],
    ['STAGE_ID', 'crm_status', '', 'Deal stage', 'DEAL_STAGE'],
    ['STAGE_SEMANTIC_ID', 'string', 'r', 'Stage group'],
    ['IS_NEW', 'char', 'r', 'New deal'],
    ['IS_RECURRING', 'char', '', 'Recurring deal'],
    ['IS_RETURN_CUSTOMER', 'char', '', 'Repeat deal'],
    ['IS_REPEATED_APPROACH', 'char', '', 'Repeat inquiry'],
    ['PROBABILITY', 'integer', '', 'Probability'],
    ['CURRENCY_ID', 'crm_currency', '', 'Currency'],
    ['OPPORTUNITY', 'double', '', 'Income'],
    ['IS_MANUAL_OPPORTUNITY', 'char', '', 'IS_MANUAL_OPPORTUNITY'],
    ['TAX_VALUE', 'double', '', 'Tax rate'],
    ['COMPANY_ID', 'crm_company', '', 'Company'],
    ['CONTACT_ID', 'crm_contact', '', 'Contact'],
    ['CONTACT_IDS', 'crm_contact', 'm', 'Contacts'],
    ['QUOTE_ID', 'crm_quote', 'r', 'Quote'],
    ['BEGINDATE', 'date', '', 'Start date'],
    ['CLOSEDATE', 'date', '', 'End date'],
    ['OPENED', 'char', '', 'Available to everyone'],
    ['CLOSED', 'char', '', 'Closed'],
    ['COMMENTS', 'string', '', 'Comment'],
    ...AUDIT,
    ['SOURCE_ID', 'crm_status', '', 'Source', 'SOURCE'],
    ['SOURCE_DESCRIPTION', 'string', '', 'Source information'],
    ['LEAD_ID', 'crm_lead', 'r', 'Lead'],
    ['ADDITIONAL_INFO', 'string', '', 'Additional information'],
    ['LOCATION_ID', 'location', '', 'Location'],
    ...ORIGIN,
    ['MOVED_BY_ID', 'user', 'r', 'Stage changed by'],
    ['MOVED_TIME', 'datetime', 'r', 'Stage change date'],
    ...UTM,
    ['TRACE', 'string', '', 'TRACE'],
    ...ACTIVITY,
  ],
  contact: [
    ['ID', 'integer', 'r', 'ID'],
    ['HONORIFIC', 'crm_status', '', 'Salutation', 'HONORIFIC'],
    ['NAME', 'string', '', 'First name'],
    ['SECOND_NAME', 'string', '', 'Second name'],
    ['LAST_NAME', 'string', '', 'Last name'],
    ['PHOTO', 'file', '', 'Photo'],
    ['BIRTHDATE', 'date', '', 'Date of birth'],
    ['TYPE_ID', 'crm_status', '', 'Contact type', 'CONTACT_TYPE'],
    ['SOURCE_ID', 'crm_status', '', 'Source', 'SOURCE'],
    ['SOURCE_DESCRIPTION', 'string', '', 'Source information'],
    ['POST', 'string', '', 'Position'],
    ...ADDRESS,
    ['COMMENTS', 'string', '', 'Comment'],
    ['OPENED', 'char', '', 'Available to everyone'],
    ['EXPORT', 'char', '', 'Included in export'],
    ['HAS_PHONE', 'char', 'r', 'Has phone'],
    ['HAS_EMAIL', 'char', 'r', 'Has email'],
    ['HAS_IMOL', 'char', 'r', 'Has Open Channel'],
    ...AUDIT,
    ['COMPANY_ID', 'crm_company', '', 'Company'],
    ['COMPANY_IDS', 'crm_company', 'm', 'COMPANY_IDS'],
    ['LEAD_ID', 'crm_lead', 'r', 'Lead'],
    ...ORIGIN,
    ['ORIGIN_VERSION', 'string', '', 'Original version'],
    ...UTM,
    ['TRACE', 'string', '', 'TRACE'],
    ...ACTIVITY,
    ...MULTI,
  ],
  company: [
    ['ID', 'integer', 'r', 'ID'],
    ['TITLE', 'string', '', 'Company Name'],
    ['COMPANY_TYPE', 'crm_status', '', 'Company type', 'COMPANY_TYPE'],
    ['LOGO', 'file', '', 'Logo'],
    ...ADDRESS,
    ['BANKING_DETAILS', 'string', '', 'Payment details'],
    ['INDUSTRY', 'crm_status', '', 'Industry', 'INDUSTRY'],
    ['EMPLOYEES', 'crm_status', '', 'Employees', 'EMPLOYEES'],
    ['CURRENCY_ID', 'crm_currency', '', 'Currency'],
    ['REVENUE', 'double', '', 'Annual revenue'],
    ['OPENED', 'char', '', 'Available to everyone'],
    ['COMMENTS', 'string', '', 'Comment'],
    ['HAS_PHONE', 'char', 'r', 'Has phone'],
    ['HAS_EMAIL', 'char', 'r', 'Has email'],
    ['HAS_IMOL', 'char', 'r', 'Has Open Channel'],
    ['IS_MY_COMPANY', 'char', '', 'My Company'],
    ...AUDIT,
    ['CONTACT_ID', 'crm_contact', 'm', 'Contact'],
    ['LEAD_ID', 'crm_lead', 'r', 'Lead'],
    ...ORIGIN,
    ['ORIGIN_VERSION', 'string', '', 'Original version'],
    ...UTM,
    ...ACTIVITY,
    ...MULTI,
  ],
};

export const MULTIFIELD_CODES = ['PHONE', 'EMAIL', 'WEB', 'IM', 'LINK'] as const;
export type MultiFieldCode = (typeof MULTIFIELD_CODES)[number];

export function standardFields(kind: CrmEntityKind): Map<string, FieldMeta> {
  return new Map(
    SPECS[kind].map(([code, type, flags = '', title = code, statusType]) => {
      const meta: FieldMeta = {
        type,
        isRequired: false,
        isReadOnly: flags.includes('r'),
        isImmutable: flags.includes('i'),
        isMultiple: flags.includes('m'),
        isDynamic: false,
        title,
      };
      if (statusType) meta.statusType = statusType;
      return [code, meta] as const;
    }),
  );
}

/** Legacy `crm.*.fields` reports a custom field with `title` = its code and the labels apart. */
export function userFieldMeta(def: UserFieldDef): FieldMeta {
  const meta: FieldMeta = {
    type: def.type,
    isRequired: def.isRequired ?? false,
    isReadOnly: false,
    isImmutable: false,
    isMultiple: def.isMultiple ?? false,
    isDynamic: true,
    title: def.code,
    listLabel: def.label,
    formLabel: def.label,
    filterLabel: def.label,
    settings: def.type === 'enumeration' ? { DISPLAY: 'LIST', LIST_HEIGHT: 1 } : { DEFAULT_VALUE: '' },
  };
  if (def.items) meta.items = def.items.map((i) => ({ ...i }));
  return meta;
}

export interface StatusSeed {
  ENTITY_ID: string;
  STATUS_ID: string;
  NAME: string;
  SORT: number;
  SYSTEM: 'Y' | 'N';
  CATEGORY_ID?: number;
  COLOR?: string;
  /** Stage semantics: process, success, failure, apology. */
  semantics?: 'process' | 'success' | 'failure' | 'apology';
}

const stage = (
  ENTITY_ID: string,
  STATUS_ID: string,
  NAME: string,
  SORT: number,
  SYSTEM: 'Y' | 'N',
  COLOR: string,
  semantics: StatusSeed['semantics'],
  CATEGORY_ID?: number,
): StatusSeed => ({ ENTITY_ID, STATUS_ID, NAME, SORT, SYSTEM, COLOR, semantics, CATEGORY_ID });

const plain = (ENTITY_ID: string, rows: [string, string][]): StatusSeed[] =>
  rows.map(([STATUS_ID, NAME], i) => ({ ENTITY_ID, STATUS_ID, NAME, SORT: (i + 1) * 10, SYSTEM: 'Y' }));

/** Additional deal pipelines besides the default one (`id: 0`). */
export const DEAL_CATEGORY_SEED: readonly { id: number; name: string; sort: number }[] = [
  { id: 1, name: 'Telephony', sort: 200 },
];

function pipelineStages(categoryId: number): StatusSeed[] {
  const entity = `DEAL_STAGE_${categoryId}`;
  const p = `C${categoryId}:`;
  return [
    stage(entity, `${p}NEW`, 'New', 10, 'Y', '#39A8EF', 'process', categoryId),
    stage(entity, `${p}PREPARATION`, 'Call back', 20, 'N', '#2FC6F6', 'process', categoryId),
    stage(entity, `${p}WON`, 'Deal won', 30, 'Y', '#7BD500', 'success', categoryId),
    stage(entity, `${p}LOSE`, 'Deal lost', 40, 'Y', '#FF5752', 'failure', categoryId),
  ];
}

export const STATUS_SEED: readonly StatusSeed[] = [
  ...plain('SOURCE', [
    ['CALL', 'Call'],
    ['EMAIL', 'E-mail'],
    ['WEB', 'Website'],
    ['ADVERTISING', 'Advertising'],
    ['PARTNER', 'Existing client'],
    ['RECOMMENDATION', 'By recommendation'],
    ['TRADE_SHOW', 'Trade show'],
    ['WEBFORM', 'CRM form'],
    ['CALLBACK', 'Callback'],
    ['RC_GENERATOR', 'Sales generator'],
    ['STORE', 'Online store'],
    ['OTHER', 'Other'],
  ]),
  stage('STATUS', 'NEW', 'Unprocessed', 10, 'Y', '#39A8EF', 'process'),
  stage('STATUS', 'IN_PROCESS', 'In process', 20, 'N', '#2FC6F6', 'process'),
  stage('STATUS', 'PROCESSED', 'Processed', 30, 'N', '#55D0E0', 'process'),
  stage('STATUS', 'CONVERTED', 'High-quality lead', 40, 'Y', '#7BD500', 'success'),
  stage('STATUS', 'JUNK', 'Low-quality lead', 50, 'Y', '#FF5752', 'failure'),
  stage('DEAL_STAGE', 'NEW', 'New', 10, 'Y', '#39A8EF', 'process'),
  stage('DEAL_STAGE', 'PREPARATION', 'Document preparation', 20, 'N', '#2FC6F6', 'process'),
  stage('DEAL_STAGE', 'PREPAYMENT_INVOICE', 'Prepayment invoice', 30, 'N', '#55D0E0', 'process'),
  stage('DEAL_STAGE', 'EXECUTING', 'In progress', 40, 'N', '#47E4C2', 'process'),
  stage('DEAL_STAGE', 'FINAL_INVOICE', 'Final invoice', 50, 'N', '#FFA900', 'process'),
  stage('DEAL_STAGE', 'WON', 'Deal successful', 60, 'Y', '#7BD500', 'success'),
  stage('DEAL_STAGE', 'LOSE', 'Deal failed', 70, 'Y', '#FF5752', 'failure'),
  stage('DEAL_STAGE', 'APOLOGY', 'Failure reason analysis', 80, 'N', '#FF5752', 'apology'),
  ...DEAL_CATEGORY_SEED.flatMap((c) => pipelineStages(c.id)),
  ...plain('DEAL_TYPE', [
    ['SALE', 'Sales'],
    ['COMPLEX', 'Integrated sale'],
    ['GOODS', 'Merchandise sales'],
    ['SERVICES', 'Service sales'],
    ['SERVICE', 'After-sales service'],
  ]),
  ...plain('CONTACT_TYPE', [
    ['CLIENT', 'Clients'],
    ['SUPPLIER', 'Suppliers'],
    ['PARTNER', 'Partners'],
    ['OTHER', 'Other'],
  ]),
  ...plain('COMPANY_TYPE', [
    ['CUSTOMER', 'Client'],
    ['SUPPLIER', 'Supplier'],
    ['COMPETITOR', 'Competitor'],
    ['PARTNER', 'Partner'],
    ['OTHER', 'Other'],
  ]),
  ...plain('HONORIFIC', [
    ['HNR_EN_1', 'Mr.'],
    ['HNR_EN_2', 'Mrs.'],
    ['HNR_EN_3', 'Ms.'],
    ['HNR_EN_4', 'Dr.'],
  ]),
];
