import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Decision } from '../decision.js';

export type AuditSync = 'full' | 'normal';

/** The decisions table's columns, in table order (the writer's INSERT follows it). */
const COLUMNS = `
  id               TEXT PRIMARY KEY,
  application_ref  TEXT,
  idempotency_key  TEXT,
  input_hash       TEXT,
  input_json       TEXT NOT NULL,
  features_json    TEXT NOT NULL,
  probability      REAL NOT NULL,
  score            INTEGER NOT NULL,
  outcome          TEXT NOT NULL,
  reasons_json     TEXT NOT NULL,
  policy_hits_json TEXT NOT NULL,
  model_version    TEXT NOT NULL,
  model_sha256     TEXT NOT NULL,
  policy_version   TEXT NOT NULL,
  decided_at       TEXT NOT NULL,
  received_at      TEXT NOT NULL,
  latency_ms       REAL NOT NULL,
  caller           TEXT`;

/**
 * An idempotency key belongs to the partner that sent it: unique per (caller, key), never across partners. Without
 * keys configured every caller is null, one scope, as before.
 */
const CALLER_KEY_INDEX = `
CREATE UNIQUE INDEX IF NOT EXISTS decisions_caller_idempotency_key
  ON decisions (ifnull(caller, ''), idempotency_key) WHERE idempotency_key IS NOT NULL`;

/**
 * `PRAGMA user_version` of the current layout. 0: the first layout, whose `idempotency_key` was unique across all
 * callers (one partner could read or block another's key); 1: unique per caller.
 */
export const AUDIT_SCHEMA_VERSION = 1;

/** One row, rewritten by a replica whose writes failed, to learn that the file takes writes again. */
const WRITE_PROBE = `CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)`;

/** The columns of one row, in table order, as the writer inserts them. */
export type RowValues = [
  id: string,
  applicationRef: string | null,
  idempotencyKey: string | null,
  inputHash: string | null,
  inputJson: string,
  featuresJson: string,
  probability: number,
  score: number,
  outcome: string,
  reasonsJson: string,
  policyHitsJson: string,
  modelVersion: string,
  modelSha256: string,
  policyVersion: string,
  decidedAt: string,
  receivedAt: string,
  latencyMs: number,
  caller: string | null,
];

export const INSERT_SQL = `
  INSERT INTO decisions (id, application_ref, idempotency_key, input_hash, input_json, features_json, probability,
    score, outcome, reasons_json, policy_hits_json, model_version, model_sha256, policy_version, decided_at,
    received_at, latency_ms, caller)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (ifnull(caller, ''), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`;

/** The decision a caller made earlier under an idempotency key (served by decisions_caller_idempotency_key). */
export const BY_CALLER_KEY_SQL = `SELECT * FROM decisions WHERE ifnull(caller, '') = ifnull(?, '') AND idempotency_key = ?`;

/** A committed write of one tiny row: tells a replica whose writes failed that the file takes writes again. */
export const PROBE_SQL = `INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`;

/** @default 5000: how long a connection waits for another one's write lock before SQLITE_BUSY */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

export interface DecisionRow {
  id: string;
  application_ref: string | null;
  input_hash: string | null;
  probability: number;
  score: number;
  outcome: Decision['outcome'];
  reasons_json: string;
  policy_hits_json: string;
  model_version: string;
  policy_version: string;
  decided_at: string;
  caller: string | null;
}

export function decisionFromRow(row: DecisionRow): Decision {
  return {
    id: row.id,
    applicationRef: row.application_ref,
    outcome: row.outcome,
    probabilityOfDefault: row.probability,
    score: row.score,
    reasons: JSON.parse(row.reasons_json),
    policyHits: JSON.parse(row.policy_hits_json),
    modelVersion: row.model_version,
    policyVersion: row.policy_version,
    decidedAt: new Date(row.decided_at),
  };
}

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
 * first migrates, the others find it done). Rows are copied, never dropped.
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
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'decisions'").get() !== undefined;
    if (exists) {
      // SQLite cannot drop a column's UNIQUE constraint in place: rebuild the table with the same columns.
      db.exec(`CREATE TABLE decisions_v1 (${COLUMNS});
        INSERT INTO decisions_v1 SELECT id, application_ref, idempotency_key, input_hash, input_json, features_json,
          probability, score, outcome, reasons_json, policy_hits_json, model_version, model_sha256, policy_version,
          decided_at, received_at, latency_ms, caller FROM decisions;
        DROP TABLE decisions;
        ALTER TABLE decisions_v1 RENAME TO decisions;`);
    } else {
      db.exec(`CREATE TABLE decisions (${COLUMNS})`);
    }
    db.exec(CALLER_KEY_INDEX);
    db.exec(WRITE_PROBE);
    db.pragma(`user_version = ${AUDIT_SCHEMA_VERSION}`);
  }).immediate();
}
