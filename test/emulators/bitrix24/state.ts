/**
 * In-memory portal. Tests read the maps directly (`state.leads.size`) and may seed them through
 * the REST methods or `state.add*` helpers. `reset()` restores the seeded portal (CRM records,
 * directories, users, CRM mode); OAuth tokens in `state.oauth` survive it.
 */
import { DEAL_CATEGORY_SEED, STATUS_SEED, type StatusSeed } from './catalog.ts';
import { TokenStore } from './oauth.ts';
import type { ResolvedOptions, UserSeed } from './options.ts';
import type { CrmEntityKind, CrmItem, UserFieldDef } from './types.ts';

export interface StatusItem {
  ID: string;
  ENTITY_ID: string;
  STATUS_ID: string;
  NAME: string;
  NAME_INIT: string;
  SORT: string;
  SYSTEM: 'Y' | 'N';
  CATEGORY_ID: string | null;
  COLOR: string | null;
  SEMANTICS: string | null;
  EXTRA?: { SEMANTICS: string; COLOR: string };
}

export interface DealCategory {
  id: number;
  name: string;
  sort: number;
  isDefault: 'Y' | 'N';
  createdDate: string;
}

export interface TimelineComment {
  ID: number;
  ENTITY_TYPE: string;
  ENTITY_ID: number;
  COMMENT: string;
  /** File names of `FILES` pairs. */
  FILES: string[];
  AUTHOR_ID: number;
  CREATED: string;
}

export interface Activity {
  ID: number;
  /** `todo` from `crm.activity.todo.add`, `legacy` from `crm.activity.add`, `call` from `externalcall.finish`. */
  kind: 'todo' | 'legacy' | 'call';
  OWNER_TYPE_ID: number;
  OWNER_ID: number;
  TYPE_ID: number;
  SUBJECT: string;
  DESCRIPTION: string;
  RESPONSIBLE_ID: number;
  DEADLINE: string | null;
  COMPLETED: 'Y' | 'N';
  DIRECTION: number | null;
  CREATED: string;
  /** Everything the client sent, for assertions. */
  input: Record<string, unknown>;
}

export interface TaskRecord {
  id: number;
  title: string;
  description: string;
  responsibleId: number;
  createdBy: number;
  deadline: string | null;
  priority: string;
  ufCrmTask: string[];
  createdDate: string;
  input: Record<string, unknown>;
}

export interface CallRecordFile {
  FILE_ID: number;
  FILENAME: string;
  source: 'content' | 'url' | 'upload-url';
  bytes: number;
}

export interface ExternalCall {
  CALL_ID: string;
  EXTERNAL_CALL_ID: string | null;
  USER_ID: number;
  PHONE_NUMBER: string;
  LINE_NUMBER: string | null;
  TYPE: number;
  CALL_START_DATE: string;
  CRM_ENTITY_TYPE: string | null;
  CRM_ENTITY_ID: number | null;
  CRM_CREATED_LEAD: number | null;
  CRM_CREATED_ENTITIES: { ENTITY_TYPE: string; ENTITY_ID: number }[];
  /** Identity (app or webhook) that registered the call; re-registration is per identity. */
  registeredBy: string;
  registeredAtMs: number;
  /** `finish` result, once finished. */
  finished: Record<string, unknown> | null;
  records: CallRecordFile[];
}

export interface PortalUser extends Required<UserSeed> {}

export class BitrixState {
  readonly leads = new Map<number, CrmItem>();
  readonly deals = new Map<number, CrmItem>();
  readonly contacts = new Map<number, CrmItem>();
  readonly companies = new Map<number, CrmItem>();
  readonly comments = new Map<number, TimelineComment>();
  readonly activities = new Map<number, Activity>();
  readonly tasks = new Map<number, TaskRecord>();
  /** Keyed by `CALL_ID`. */
  readonly externalCalls = new Map<string, ExternalCall>();
  readonly users = new Map<number, PortalUser>();
  statuses: StatusItem[] = [];
  dealCategories: DealCategory[] = [];
  userFields: Record<CrmEntityKind, UserFieldDef[]>;
  crmMode: 'classic' | 'simple';
  readonly oauth: TokenStore;

  private seq = new Map<string, number>();

  constructor(private readonly opts: ResolvedOptions) {
    this.oauth = new TokenStore(opts);
    this.userFields = structuredClone(opts.userFields);
    this.crmMode = opts.crmMode;
    this.reset();
  }

  /** Clear CRM data and restore directories, users, custom fields and mode from the options. */
  reset(): void {
    for (const map of [this.leads, this.deals, this.contacts, this.companies, this.comments, this.activities, this.tasks, this.externalCalls]) {
      map.clear();
    }
    this.seq = new Map();
    this.crmMode = this.opts.crmMode;
    this.userFields = structuredClone(this.opts.userFields);
    this.users.clear();
    for (const u of this.opts.users) {
      this.users.set(u.ID, { EMAIL: '', UF_PHONE_INNER: '', ACTIVE: true, ...u });
    }
    this.statuses = STATUS_SEED.map((s, i) => toStatusItem(s, 101 + i * 2));
    const created = '2024-01-01T00:00:00+03:00';
    this.dealCategories = [
      ...DEAL_CATEGORY_SEED.map((c) => ({ ...c, isDefault: 'N' as const, createdDate: created })),
      { id: 0, name: 'General', sort: 300, isDefault: 'Y', createdDate: created },
    ];
  }

  /** `crm.settings.mode.get`: 1 classic, 2 simple. */
  setCrmMode(mode: 'classic' | 'simple'): void {
    this.crmMode = mode;
  }

  entities(kind: CrmEntityKind): Map<number, CrmItem> {
    return { lead: this.leads, deal: this.deals, contact: this.contacts, company: this.companies }[kind];
  }

  /** Next id of a sequence (`lead`, `deal`, `multifield`, `comment`, `activity`, `file`, …). */
  nextId(sequence: string, startAt = 1): number {
    const next = (this.seq.get(sequence) ?? startAt - 1) + 1;
    this.seq.set(sequence, next);
    return next;
  }

  /** Active user by id, or undefined. */
  activeUser(id: number | undefined): PortalUser | undefined {
    const u = id === undefined ? undefined : this.users.get(id);
    return u?.ACTIVE ? u : undefined;
  }

  userByInner(inner: string): PortalUser | undefined {
    return [...this.users.values()].find((u) => u.UF_PHONE_INNER !== '' && u.UF_PHONE_INNER === inner);
  }

  statusesOf(entityId: string): StatusItem[] {
    return this.statuses.filter((s) => s.ENTITY_ID === entityId).sort((a, b) => Number(a.SORT) - Number(b.SORT));
  }

  hasStatus(entityId: string, statusId: string): boolean {
    return this.statuses.some((s) => s.ENTITY_ID === entityId && s.STATUS_ID === statusId);
  }

  /** Deal stage directory of a pipeline: `DEAL_STAGE` for 0, `DEAL_STAGE_<id>` otherwise. */
  dealStageEntity(categoryId: number): string {
    return categoryId === 0 ? 'DEAL_STAGE' : `DEAL_STAGE_${categoryId}`;
  }

  addStatus(seed: StatusSeed): StatusItem {
    const item = toStatusItem(seed, this.nextId('status', 1001));
    this.statuses.push(item);
    return item;
  }
}

function toStatusItem(s: StatusSeed, id: number): StatusItem {
  const item: StatusItem = {
    ID: String(id),
    ENTITY_ID: s.ENTITY_ID,
    STATUS_ID: s.STATUS_ID,
    NAME: s.NAME,
    NAME_INIT: s.SYSTEM === 'Y' ? s.NAME : '',
    SORT: String(s.SORT),
    SYSTEM: s.SYSTEM,
    CATEGORY_ID: s.CATEGORY_ID === undefined ? null : String(s.CATEGORY_ID),
    COLOR: s.COLOR ?? null,
    SEMANTICS: s.semantics === 'success' ? 'S' : s.semantics === 'failure' || s.semantics === 'apology' ? 'F' : null,
  };
  if (s.semantics && s.COLOR) item.EXTRA = { SEMANTICS: s.semantics, COLOR: s.COLOR };
  return item;
}
