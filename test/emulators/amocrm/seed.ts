/**
 * Default account metadata: users, pipelines, custom fields, task types.
 * Ids are fixed so tests and fixtures can name them; everything is rebuilt on reset.
 */
import type {
  AccountMetadata,
  EnumDef,
  FieldDef,
  FieldType,
  EntityType,
  PipelineDef,
  StatusDef,
} from './types.ts';

export const SEED = {
  accountId: 28805383,
  adminUserId: 8801234,
  managerUserId: 8801235,
  inactiveUserId: 8801236,
  mainPipelineId: 3166396,
  mainUnsortedStatusId: 31000001,
  mainFirstStatusId: 31000002,
  partnersPipelineId: 3166397,
  partnersUnsortedStatusId: 31000011,
  archivePipelineId: 3166398,
  wonStatusId: 142,
  lostStatusId: 143,
  contactPhoneFieldId: 610921,
  contactEmailFieldId: 610923,
  leadSourceSelectFieldId: 620101,
} as const;

/** §7.1: the 19 predefined `tracking_data` lead fields, in the sheet's order. */
export const TRACKING_FIELD_CODES = [
  'UTM_SOURCE',
  'UTM_MEDIUM',
  'UTM_CAMPAIGN',
  'UTM_CONTENT',
  'UTM_TERM',
  'UTM_REFERRER',
  'REFERRER',
  'ROISTAT',
  'OPENSTAT_SERVICE',
  'OPENSTAT_CAMPAIGN',
  'OPENSTAT_AD',
  'OPENSTAT_SOURCE',
  'FROM',
  'GCLIENTID',
  '_YM_UID',
  '_YM_COUNTER',
  'GCLID',
  'YCLID',
  'FBCLID',
] as const;

const PHONE_CODES = ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'];
const EMAIL_CODES = ['WORK', 'PRIV', 'OTHER'];
const IM_CODES = ['SKYPE', 'ICQ', 'JABBER', 'GTALK', 'MSN', 'OTHER'];

function codeEnums(firstId: number, codes: readonly string[]): EnumDef[] {
  return codes.map((code, i) => ({ id: firstId + i, value: code, sort: (i + 1) * 2, code }));
}

function valueEnums(firstId: number, values: readonly string[]): EnumDef[] {
  return values.map((value, i) => ({ id: firstId + i, value, sort: (i + 1) * 500, code: null }));
}

function field(
  entity: EntityType,
  id: number,
  name: string,
  type: FieldType,
  sort: number,
  extra: Partial<FieldDef> = {},
): FieldDef {
  return {
    id,
    name,
    code: null,
    type,
    sort,
    entity_type: entity,
    is_api_only: false,
    is_predefined: false,
    is_deletable: true,
    group_id: null,
    enums: null,
    ...extra,
  };
}

const predefined = { is_predefined: true, is_deletable: false } as const;

function seedFields(): FieldDef[] {
  const contacts: FieldDef[] = [
    field('contacts', 610919, 'Должность', 'text', 2, { code: 'POSITION', ...predefined }),
    field('contacts', SEED.contactPhoneFieldId, 'Телефон', 'multitext', 4, {
      code: 'PHONE',
      enums: codeEnums(1234561, PHONE_CODES),
      ...predefined,
    }),
    field('contacts', SEED.contactEmailFieldId, 'Email', 'multitext', 6, {
      code: 'EMAIL',
      enums: codeEnums(1234571, EMAIL_CODES),
      ...predefined,
    }),
    field('contacts', 610925, 'Мгн. сообщения', 'multitext', 8, {
      code: 'IM',
      enums: codeEnums(1234581, IM_CODES),
      ...predefined,
    }),
    field('contacts', 610927, 'Тип клиента', 'select', 10, {
      enums: valueEnums(1234591, ['Новый', 'Постоянный', 'VIP']),
    }),
    field('contacts', 610929, 'Город', 'text', 12),
  ];
  const companies: FieldDef[] = [
    field('companies', 610931, 'Телефон', 'multitext', 4, {
      code: 'PHONE',
      enums: codeEnums(1234661, PHONE_CODES),
      ...predefined,
    }),
    field('companies', 610933, 'Email', 'multitext', 6, {
      code: 'EMAIL',
      enums: codeEnums(1234671, EMAIL_CODES),
      ...predefined,
    }),
    field('companies', 610935, 'Web', 'url', 8, { code: 'WEB', ...predefined }),
    field('companies', 610937, 'Адрес', 'textarea', 10, { code: 'ADDRESS', ...predefined }),
  ];
  const tracking: FieldDef[] = TRACKING_FIELD_CODES.map((code, i) =>
    field('leads', 620001 + i, code.toLowerCase(), 'tracking_data', 100 + i, {
      code,
      group_id: 'statistic',
      ...predefined,
    }),
  );
  const leads: FieldDef[] = [
    ...tracking,
    field('leads', SEED.leadSourceSelectFieldId, 'Источник заявки', 'select', 10, {
      enums: valueEnums(1240001, ['Сайт', 'Телефон', 'Telegram', 'Email']),
    }),
    field('leads', 620102, 'Комментарий', 'textarea', 12),
    field('leads', 620103, 'Услуги', 'multiselect', 14, {
      enums: valueEnums(1240011, ['Консультация', 'Доставка', 'Монтаж']),
    }),
    field('leads', 620104, 'Площадь, м²', 'numeric', 16),
    field('leads', 620105, 'Повторное обращение', 'checkbox', 18),
    field('leads', 620106, 'Дата визита', 'date', 20),
    field('leads', 620107, 'Страница заявки', 'url', 22),
  ];
  return [...contacts, ...companies, ...leads];
}

function won(): StatusDef {
  return { id: SEED.wonStatusId, name: 'Успешно реализовано', sort: 10000, is_editable: false, color: '#CCFF66', type: 0 };
}
function lost(): StatusDef {
  return { id: SEED.lostStatusId, name: 'Закрыто и не реализовано', sort: 11000, is_editable: false, color: '#D5D8DB', type: 0 };
}
function unsorted(id: number): StatusDef {
  return { id, name: 'Неразобранное', sort: 10, is_editable: false, color: '#c1c1c1', type: 1 };
}
function stage(id: number, name: string, sort: number, color: string): StatusDef {
  return { id, name, sort, is_editable: true, color, type: 0 };
}

function seedPipelines(): PipelineDef[] {
  return [
    {
      id: SEED.mainPipelineId,
      name: 'Воронка',
      sort: 1,
      is_main: true,
      is_unsorted_on: true,
      is_archive: false,
      statuses: [
        unsorted(SEED.mainUnsortedStatusId),
        stage(SEED.mainFirstStatusId, 'Первичный контакт', 20, '#99ccff'),
        stage(31000003, 'Переговоры', 30, '#ffff99'),
        stage(31000004, 'Принимают решение', 40, '#ffcc66'),
        won(),
        lost(),
      ],
    },
    {
      id: SEED.partnersPipelineId,
      name: 'Партнёры',
      sort: 2,
      is_main: false,
      is_unsorted_on: true,
      is_archive: false,
      statuses: [
        unsorted(SEED.partnersUnsortedStatusId),
        stage(31000012, 'Новая заявка', 20, '#99ccff'),
        stage(31000013, 'В работе', 30, '#ffff99'),
        won(),
        lost(),
      ],
    },
    {
      id: SEED.archivePipelineId,
      name: 'Архив (без Неразобранного)',
      sort: 3,
      is_main: false,
      is_unsorted_on: false,
      is_archive: true,
      statuses: [stage(31000021, 'Первичный контакт', 20, '#99ccff'), won(), lost()],
    },
  ];
}

/** A fresh copy of the default account; callers may mutate it freely. */
export function defaultAccountMetadata(): AccountMetadata {
  return {
    account: {
      id: SEED.accountId,
      name: 'Leadgate Emulator',
      subdomain: 'leadgate',
      current_user_id: SEED.adminUserId,
      country: 'RU',
      currency: 'RUB',
      currency_symbol: '₽',
      timezone: 'Europe/Moscow',
      timezone_offset: '+03:00',
    },
    users: [
      { id: SEED.adminUserId, name: 'Администратор', email: 'admin@leadgate.test', lang: 'ru', is_admin: true, is_active: true, group_id: 0 },
      { id: SEED.managerUserId, name: 'Ирина Менеджер', email: 'irina@leadgate.test', lang: 'ru', is_admin: false, is_active: true, group_id: 0 },
      { id: SEED.inactiveUserId, name: 'Бывший Сотрудник', email: 'former@leadgate.test', lang: 'ru', is_admin: false, is_active: false, group_id: 0 },
    ],
    pipelines: seedPipelines(),
    fields: seedFields(),
    taskTypes: [
      { id: 1, name: 'Связаться', color: null, icon_id: null, code: 'FOLLOW_UP' },
      { id: 2, name: 'Встреча', color: null, icon_id: null, code: 'MEETING' },
      { id: 3001, name: 'Перезвонить', color: '#ffcc66', icon_id: 5, code: null },
    ],
  };
}
