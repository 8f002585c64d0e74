import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type AuditSync = 'full' | 'normal';

/**
 * The audit trail is written a batch at a time: one `decision_batches` row per decided request holds what the lender
 * must be able to show for each of its decisions (the input as received, probability, score, outcome, reasons,
 * policy hits), compactly encoded as one JSON array in `body`; one narrow `decisions` row per decision indexes it
 * (batch and position, which are its id; partner, outcome, time, reference, idempotency key), so reads by id, by key
 * and (later) filtered history are served from indexes, and SQLite's JSON functions cut one entry out of a batch.
 * The index's key is (batch, position): a batch's rows go in side by side, one b-tree descent per batch.
 */
const LAYOUT = `
CREATE TABLE decision_batches (
  batch_id       TEXT PRIMARY KEY,
  caller         TEXT,
  received_at    TEXT NOT NULL,
  decided_at     TEXT NOT NULL,
  latency_ms     REAL NOT NULL,
  model_version  TEXT NOT NULL,
  model_sha256   TEXT NOT NULL,
  policy_version TEXT NOT NULL,
  -- {"r":{reason code: description}, "h":{rule id: description}} for the entries of this batch
  descriptions   TEXT NOT NULL,
  -- a JSON array, one entry per decision in position order (see Entry)
  body           TEXT NOT NULL
);
CREATE TABLE decisions (
  batch_id        TEXT NOT NULL,
  position        INTEGER NOT NULL,
  caller          TEXT,
  outcome         TEXT NOT NULL,
  decided_at      TEXT NOT NULL,
  application_ref TEXT,
  idempotency_key TEXT,
  input_hash      TEXT,
  PRIMARY KEY (batch_id, position)
) WITHOUT ROWID;
-- An idempotency key belongs to the partner that sent it: unique per (caller, key), never across partners. Without
-- keys configured every caller is null, one scope.
CREATE UNIQUE INDEX decisions_caller_idempotency_key
  ON decisions (ifnull(caller, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
-- One row, rewritten by a replica whose writes failed, to learn that the file takes writes again.
CREATE TABLE write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
`;

/**
 * Version 2: the history and reviews. A decision's own model version when it is not its batch's; indexes that hold
 * the decisions newest first (all, per partner, per application reference) for keyset pagination; and the reviews
 * of REFERs, one per decision, append-only (a trigger refuses any update).
 */
const HISTORY_AND_REVIEWS = `
ALTER TABLE decisions ADD COLUMN model_version TEXT;
UPDATE decisions SET model_version = (
  SELECT json_extract(b.body, '$[' || decisions.position || '][6][0]') FROM decision_batches b WHERE b.batch_id = decisions.batch_id);
CREATE INDEX decisions_by_time ON decisions (decided_at, batch_id, position);
CREATE INDEX decisions_by_caller ON decisions (caller, decided_at, batch_id, position);
CREATE INDEX decisions_by_ref ON decisions (application_ref, decided_at, batch_id, position) WHERE application_ref IS NOT NULL;
CREATE TABLE reviews (
  batch_id     TEXT NOT NULL,
  position     INTEGER NOT NULL,
  outcome      TEXT NOT NULL,
  -- a JSON array of reason codes
  reason_codes TEXT NOT NULL,
  note         TEXT,
  reviewer     TEXT NOT NULL,
  reviewed_at  TEXT NOT NULL,
  PRIMARY KEY (batch_id, position)
) WITHOUT ROWID;
CREATE TRIGGER reviews_append_only BEFORE UPDATE ON reviews BEGIN SELECT RAISE(ABORT, 'reviews are append-only'); END;
`;

/**
 * `PRAGMA user_version` of this layout. 0: the first release's, one wide row per decision, whose idempotency key was
 * unique across all partners (one partner could read or block another's key). 1: batches and their index rows.
 * 2: the history's indexes and the reviews.
 */
export const AUDIT_SCHEMA_VERSION = 2;

export const BATCH_INSERT_SQL = `INSERT INTO decision_batches (batch_id, caller, received_at, decided_at, latency_ms,
  model_version, model_sha256, policy_version, descriptions, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export const INDEX_INSERT_SQL = `INSERT INTO decisions (batch_id, position, caller, outcome, decided_at, application_ref,
  idempotency_key, input_hash, model_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (ifnull(caller, ''), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`;

/** One decision with what its batch says of it: its entry, cut from the batch's body by SQLite. */
const DECISION_SELECT = `SELECT d.batch_id, d.position, d.idempotency_key, d.caller, d.outcome, d.decided_at, d.application_ref, d.input_hash,
    json_extract(b.body, '$[' || d.position || ']') AS entry, b.descriptions, b.model_version, b.policy_version,
    r.outcome AS review_outcome, r.reason_codes AS review_reason_codes, r.note AS review_note, r.reviewer AS review_reviewer,
    r.reviewed_at AS review_reviewed_at
  FROM decisions d JOIN decision_batches b ON b.batch_id = d.batch_id
  LEFT JOIN reviews r ON r.batch_id = d.batch_id AND r.position = d.position`;

/** The batches of a page of the history, each body once. */
export const BATCHES_BY_IDS_SQL = `SELECT batch_id, body, descriptions, model_version, policy_version FROM decision_batches
  WHERE batch_id IN (SELECT value FROM json_each(?))`;

/** A review: stored once per decision (the primary key decides), never updated. */
export const REVIEW_INSERT_SQL = `INSERT INTO reviews (batch_id, position, outcome, reason_codes, note, reviewer, reviewed_at)
  VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`;

export const BY_ID_SQL = `${DECISION_SELECT} WHERE d.batch_id = ? AND d.position = ?`;

/** The decision a caller made earlier under an idempotency key (served by decisions_caller_idempotency_key). */
export const BY_CALLER_KEY_SQL = `${DECISION_SELECT} WHERE ifnull(d.caller, '') = ifnull(?, '') AND d.idempotency_key = ?`;

/** The decisions a caller made earlier under any of several idempotency keys (a JSON array): one query per batch. */
export const BY_CALLER_KEYS_SQL = `${DECISION_SELECT}
  WHERE ifnull(d.caller, '') = ifnull(?, '') AND d.idempotency_key IN (SELECT value FROM json_each(?))`;

/** A committed write of one tiny row: tells a replica whose writes failed that the file takes writes again. */
export const PROBE_SQL = `INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`;

/** @default 5000: how long a connection waits for another one's write lock before SQLITE_BUSY */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** Opens (and creates) the audit database in WAL mode, safe for several processes on one host. */
export function openAuditDatabase(file: string, sync: AuditSync, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS): Database.Database {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  // Several replicas write to one file: wait for the lock rather than fail (a replica's transaction takes
  // milliseconds; a lock held longer than this is a stuck writer, answered SERVICE_UNAVAILABLE).
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  migrate(db);
  return db;
}

/**
 * Brings the file to AUDIT_SCHEMA_VERSION in one IMMEDIATE transaction (replicas starting together take turns; the
 * first migrates, the others find it done). A first-layout file's rows become batches of one under their own ids
 * (UUIDs), keys and every stored value kept (the feature values too); nothing is dropped but the emptied old table.
 */
function migrate(db: Database.Database): void {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  if (version() === AUDIT_SCHEMA_VERSION) return;
  db.transaction(() => {
    const current = version();
    if (current === AUDIT_SCHEMA_VERSION) return;
    if (current > AUDIT_SCHEMA_VERSION) {
      throw new Error(`the audit database has schema version ${current}; this release knows up to ${AUDIT_SCHEMA_VERSION}`);
    }
    if (current === 0) {
      const first = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'decisions'").get() !== undefined;
      if (first) db.exec('ALTER TABLE decisions RENAME TO decisions_first_layout');
      db.exec(LAYOUT);
      // %!.17g: every bit of the stored double, as JavaScript reads it back
      if (first) {
        db.exec(`
          INSERT INTO decision_batches (batch_id, caller, received_at, decided_at, latency_ms, model_version, model_sha256,
              policy_version, descriptions, body)
            SELECT id, caller, received_at, decided_at, latency_ms, model_version, model_sha256, policy_version, '{}',
              '[[' || input_json || ',' || printf('%!.17g', probability) || ',' || score || ',"' || outcome || '",' ||
              reasons_json || ',' || policy_hits_json || ',null,' || features_json || ']]'
            FROM decisions_first_layout;
          INSERT INTO decisions (batch_id, position, caller, outcome, decided_at, application_ref, idempotency_key, input_hash)
            SELECT id, 0, caller, outcome, decided_at, application_ref, idempotency_key, input_hash FROM decisions_first_layout;
          DROP TABLE decisions_first_layout;`);
      }
    }
    db.exec(HISTORY_AND_REVIEWS);
    db.pragma(`user_version = ${AUDIT_SCHEMA_VERSION}`);
  }).immediate();
}

/**
 * Retention on SQLite: deletes the decisions (index rows and batches) decided before `keptFrom`. Row by row, unlike
 * PostgreSQL's dropped partitions; the file does not shrink until VACUUM, but the freed pages are reused.
 */
export function deleteDecidedBefore(db: Database.Database, keptFrom: Date): { reviews: number; decisions: number; batches: number } {
  const cutoff = keptFrom.toISOString();
  return db.transaction(() => ({
    reviews: db
      .prepare('DELETE FROM reviews WHERE (batch_id, position) IN (SELECT batch_id, position FROM decisions WHERE decided_at < ?)')
      .run(cutoff).changes,
    decisions: db.prepare('DELETE FROM decisions WHERE decided_at < ?').run(cutoff).changes,
    batches: db.prepare('DELETE FROM decision_batches WHERE decided_at < ?').run(cutoff).changes,
  })).immediate();
}
