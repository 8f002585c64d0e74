import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Decision } from '../model/decisioning.js';

export type AuditSync = 'full' | 'normal';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS decisions (
  id               TEXT PRIMARY KEY,
  application_ref  TEXT,
  idempotency_key  TEXT UNIQUE,
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
  caller           TEXT
);
`;

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
  ON CONFLICT (idempotency_key) DO NOTHING`;

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
export function openAuditDatabase(file: string, sync: AuditSync): Database.Database {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  // Several replicas write to one file: wait for the lock rather than fail.
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
  db.exec(SCHEMA);
  return db;
}
