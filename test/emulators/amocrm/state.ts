/**
 * In-memory store of one amoCRM account: metadata, entities, tokens and id sequences.
 * Tests read it directly (`state.leads.size`, `state.counts()`); routes mutate it.
 * Deterministic: ids come from sequences and time from the injected clock.
 */
import { createHash } from 'node:crypto';
import { AuthStore } from './auth.ts';
import type { ResolvedOptions } from './options.ts';
import { defaultAccountMetadata } from './seed.ts';
import type {
  AccountMetadata,
  CallRecord,
  CompanyRecord,
  ContactRecord,
  EntityType,
  FieldDef,
  LeadRecord,
  NoteRecord,
  PipelineDef,
  StatusDef,
  Tag,
  TaskRecord,
  UnsortedRecord,
} from './types.ts';

const FIRST_IDS = {
  contact: 5512345,
  company: 7700001,
  lead: 26053199,
  note: 100000001,
  task: 30000001,
  call: 58690687,
  tag: 500001,
  unsorted: 1,
  requestId: 1,
};

export type EntityCounts = Record<'contacts' | 'companies' | 'leads' | 'unsorted' | 'notes' | 'tasks' | 'calls', number>;

export class AmoState {
  meta!: AccountMetadata;
  auth!: AuthStore;
  readonly contacts = new Map<number, ContactRecord>();
  readonly companies = new Map<number, CompanyRecord>();
  readonly leads = new Map<number, LeadRecord>();
  /** Keyed by `uid`. */
  readonly unsorted = new Map<string, UnsortedRecord>();
  readonly notes = new Map<number, NoteRecord>();
  readonly tasks = new Map<number, TaskRecord>();
  readonly calls = new Map<number, CallRecord>();
  readonly tags = new Map<string, Tag>();
  /** The long-lived tokens accepted right after a reset. */
  longLivedTokens: string[] = [];
  private seq = { ...FIRST_IDS };

  constructor(private readonly opts: ResolvedOptions) {
    this.reset();
  }

  /** Back to the seeded account: no entities, fresh sequences, only the configured tokens. */
  reset(): void {
    this.meta = this.opts.metadata(defaultAccountMetadata());
    for (const m of [this.contacts, this.companies, this.leads, this.notes, this.tasks, this.calls]) m.clear();
    this.unsorted.clear();
    this.tags.clear();
    this.seq = { ...FIRST_IDS };
    const a = this.meta.account;
    this.auth = new AuthStore(this.opts, { id: a.id, subdomain: a.subdomain, userId: a.current_user_id });
    this.longLivedTokens = this.opts.longLivedTokens
      ? this.opts.longLivedTokens.map((t) => this.auth.addLongLived(t))
      : [this.auth.addLongLived()];
  }

  counts(): EntityCounts {
    return {
      contacts: this.contacts.size,
      companies: this.companies.size,
      leads: this.leads.size,
      unsorted: this.unsorted.size,
      notes: this.notes.size,
      tasks: this.tasks.size,
      calls: this.calls.size,
    };
  }

  nowSec(): number {
    return Math.floor(this.opts.clock() / 1000);
  }

  nextId(kind: Exclude<keyof typeof FIRST_IDS, 'unsorted' | 'requestId'>): number {
    const id = this.seq[kind];
    this.seq[kind] += 1;
    return id;
  }

  /** 32 hex chars, like the real `uid`. */
  nextUnsortedUid(): string {
    const n = this.seq.unsorted;
    this.seq.unsorted += 1;
    return createHash('md5').update(`unsorted:${n}`).digest('hex');
  }

  /** Value of the `X-Request-Id` header: 32 hex chars, deterministic. */
  nextRequestId(): string {
    const n = this.seq.requestId;
    this.seq.requestId += 1;
    return createHash('md5').update(`request:${n}`).digest('hex');
  }

  // ---------------------------------------------------------------- metadata lookups

  get accountId(): number {
    return this.meta.account.id;
  }

  fieldsOf(entity: EntityType): FieldDef[] {
    return this.meta.fields.filter((f) => f.entity_type === entity);
  }

  user(id: number): AccountMetadata['users'][number] | undefined {
    return this.meta.users.find((u) => u.id === id);
  }

  pipeline(id: number): PipelineDef | undefined {
    return this.meta.pipelines.find((p) => p.id === id);
  }

  mainPipeline(): PipelineDef {
    const main = this.meta.pipelines.find((p) => p.is_main) ?? this.meta.pipelines[0];
    if (!main) throw new Error('amoCRM emulator: metadata has no pipelines');
    return main;
  }

  unsortedStatus(p: PipelineDef): StatusDef | undefined {
    return p.statuses.find((s) => s.type === 1);
  }

  /** First regular stage: the default status of a new lead (sheet §5.1). */
  firstStage(p: PipelineDef): StatusDef | undefined {
    return [...p.statuses].sort((a, b) => a.sort - b.sort).find((s) => s.type === 0 && s.id !== 142 && s.id !== 143);
  }

  /** Pipeline holding a status; 142/143 exist in every pipeline, so prefer `hint`. */
  pipelineOfStatus(statusId: number, hint?: number): PipelineDef | undefined {
    const candidates = this.meta.pipelines.filter((p) => p.statuses.some((s) => s.id === statusId));
    return candidates.find((p) => p.id === hint) ?? candidates.find((p) => p.is_main) ?? candidates[0];
  }

  // ---------------------------------------------------------------- tags

  tag(ref: { id?: number; name?: string }): Tag | undefined {
    if (ref.name !== undefined) {
      const key = ref.name.toLowerCase();
      let t = this.tags.get(key);
      if (!t) {
        t = { id: this.nextId('tag'), name: ref.name, color: null };
        this.tags.set(key, t);
      }
      return t;
    }
    return [...this.tags.values()].find((t) => t.id === ref.id);
  }

  // ---------------------------------------------------------------- relations

  leadsOfContact(contactId: number): LeadRecord[] {
    return [...this.leads.values()].filter((l) => !l.is_deleted && l.contacts.some((c) => c.id === contactId));
  }

  leadsOfCompany(companyId: number): LeadRecord[] {
    return [...this.leads.values()].filter((l) => !l.is_deleted && l.company_id === companyId);
  }

  contactsOfCompany(companyId: number): ContactRecord[] {
    return [...this.contacts.values()].filter((c) => !c.is_deleted && c.company_id === companyId);
  }

  entityExists(type: EntityType, id: number): boolean {
    const rec = type === 'leads' ? this.leads.get(id) : type === 'contacts' ? this.contacts.get(id) : this.companies.get(id);
    return rec !== undefined && !rec.is_deleted;
  }

  /** Earliest deadline of an open task on the entity (the `closest_task_at` field). */
  closestTaskAt(type: EntityType, id: number): number | null {
    let best: number | null = null;
    for (const t of this.tasks.values()) {
      if (!t.is_completed && t.entity_type === type && t.entity_id === id) {
        best = best === null ? t.complete_till : Math.min(best, t.complete_till);
      }
    }
    return best;
  }
}
