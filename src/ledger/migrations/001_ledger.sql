-- The lead ledger: one row per stored event, one per outcome (delivery key). Portable SQL for SQLite and PostgreSQL:
-- times are epoch milliseconds (BIGINT), flags SMALLINT 0/1. Contacts only as keyed hashes and masked text.

CREATE TABLE ledger_events (
  event_key      TEXT PRIMARY KEY,          -- <sourceId>.<eventHash>, the intake job id
  source_id      TEXT NOT NULL,
  channel        TEXT NOT NULL,
  event_id       TEXT,                      -- the sender's id (Tilda tranid, Telegram update_id, Message-ID…)
  event_hash     TEXT NOT NULL,
  status         TEXT NOT NULL,             -- normalised | rejected
  error          TEXT,                      -- why it could not be normalised (masked)
  outcome_count  INTEGER,
  received_at    BIGINT NOT NULL,
  normalised_at  BIGINT,
  updated_at     BIGINT NOT NULL
);
CREATE INDEX ledger_events_received ON ledger_events (received_at);
CREATE INDEX ledger_events_event_id ON ledger_events (event_id);

CREATE TABLE ledger_outcomes (
  delivery_key        TEXT PRIMARY KEY,     -- <sourceId>.<eventHash>.<index>, or sweep.<call> for swept calls
  event_key           TEXT,
  outcome_index       INTEGER,
  source_id           TEXT,
  source_name         TEXT,
  channel             TEXT,
  kind                TEXT,                 -- lead | message | call | ignored
  status              TEXT NOT NULL,        -- queued | skipped | logged | ignored | failed | delivered
  status_rank         SMALLINT NOT NULL,    -- writes arrive in any order: the later stage wins
  reason_code         TEXT,                 -- ignored: why (form:honeypot, robot-mail:…); failed: first line of the reason
  reason_detail       TEXT,
  account_id          TEXT,
  form_name           TEXT,
  utm_source          TEXT,
  utm_medium          TEXT,
  utm_campaign        TEXT,
  phone_hash          TEXT,                 -- HMAC-SHA256 of the first E.164 phone
  email_hash          TEXT,                 -- HMAC-SHA256 of the first lower-cased e-mail
  phone_masked        TEXT,                 -- +7 *** ***-**-67
  email_masked        TEXT,                 -- i***@example.ru
  call_key            TEXT,                 -- hash of provider:source:call id (one call, many events)
  call_direction      TEXT,
  call_missed         SMALLINT,
  created_lead        SMALLINT,             -- 1 a new CRM lead; 0 a note on an existing one (repeat)
  crm_lead_id         TEXT,
  crm_contact_id      TEXT,
  crm_note_id         TEXT,
  crm_task_id         TEXT,
  crm_url             TEXT,
  responsible_user_id TEXT,
  received_at         BIGINT,
  normalised_at       BIGINT,
  delivered_at        BIGINT,
  first_contact_at    BIGINT,               -- the follow-up task was completed (filled by the assignment rules)
  updated_at          BIGINT NOT NULL
);
CREATE INDEX ledger_outcomes_received ON ledger_outcomes (received_at);
CREATE INDEX ledger_outcomes_event ON ledger_outcomes (event_key);
CREATE INDEX ledger_outcomes_phone ON ledger_outcomes (phone_hash);
CREATE INDEX ledger_outcomes_email ON ledger_outcomes (email_hash);
CREATE INDEX ledger_outcomes_crm_lead ON ledger_outcomes (account_id, crm_lead_id);
CREATE INDEX ledger_outcomes_call ON ledger_outcomes (call_key);

-- Facts about this ledger itself (the generated contact-hash key when ledger.hashKeyEnv is unset).
CREATE TABLE ledger_meta (
  meta_key   TEXT PRIMARY KEY,
  meta_value TEXT NOT NULL
);
