import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Decision } from '../model/decisioning.js';

/** Everything the lender may need to show later about one decision. */
export interface AuditRecord {
  decision: Decision;
  idempotencyKey: string | null;
  /** SHA-256 of the canonical validated input; tells a replay from a reused key */
  inputHash: string;
  /** the input as the API received it */
  input: unknown;
  /** the model's feature values for this application, by catalogue name */
  features: Record<string, number>;
  modelSha256: string;
  receivedAt: Date;
  latencyMs: number;
  /** the partner key id, where known */
  caller: string | null;
}

export type RecordResult =
  | { kind: 'stored' }
  | { kind: 'replayed'; decision: Decision }
  | { kind: 'key-reused' };

export type AuditSync = 'full' | 'normal';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS decisions (
  id               TEXT PRIMARY KEY,
  application_ref  TEXT,
  idempotency_key  TEXT UNIQUE,
  input_hash       TEXT NOT NULL,
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
CREATE INDEX IF NOT EXISTS decisions_decided_at ON decisions (decided_at);
`;

interface DecisionRow {
  id: string;
  application_ref: string | null;
  input_hash: string;
  probability: number;
  score: number;
  outcome: Decision['outcome'];
  reasons_json: string;
  policy_hits_json: string;
  model_version: string;
  policy_version: string;
  decided_at: string;
}

function decisionFromRow(row: DecisionRow): Decision {
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

interface Pending {
  record: AuditRecord;
  resolve: (result: RecordResult) => void;
  reject: (error: unknown) => void;
}

/**
 * The durable audit trail: one SQLite file in WAL mode, shared safely by every replica process on the host.
 * Records queued in the same turn of the event loop (one model batch's decisions) are written in one transaction,
 * and each caller's promise settles only after that transaction commits.
 */
export class AuditStore {
  private readonly db: Database.Database;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private readonly insert: Database.Statement;
  private readonly byId: Database.Statement<[string], DecisionRow>;
  private readonly byKey: Database.Statement<[string], DecisionRow>;
  private readonly writeBatch: (batch: Pending[]) => RecordResult[];
  /** transactions committed so far (tests, metrics) */
  transactions = 0;

  constructor(readonly file: string, sync: AuditSync = 'full') {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    // Several replicas write to one file: wait for the lock rather than fail.
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare(`
      INSERT INTO decisions (id, application_ref, idempotency_key, input_hash, input_json, features_json, probability,
        score, outcome, reasons_json, policy_hits_json, model_version, model_sha256, policy_version, decided_at,
        received_at, latency_ms, caller)
      VALUES (@id, @applicationRef, @idempotencyKey, @inputHash, @inputJson, @featuresJson, @probability, @score,
        @outcome, @reasonsJson, @policyHitsJson, @modelVersion, @modelSha256, @policyVersion, @decidedAt, @receivedAt,
        @latencyMs, @caller)
      ON CONFLICT (idempotency_key) DO NOTHING`);
    this.byId = this.db.prepare('SELECT * FROM decisions WHERE id = ?');
    this.byKey = this.db.prepare('SELECT * FROM decisions WHERE idempotency_key = ?');
    const tx = this.db.transaction((batch: Pending[]) => batch.map(({ record }) => this.writeOne(record)));
    // IMMEDIATE takes the write lock up front, so two replicas never deadlock upgrading a read lock.
    this.writeBatch = (batch) => tx.immediate(batch);
  }

  private writeOne(record: AuditRecord): RecordResult {
    const d = record.decision;
    const { changes } = this.insert.run({
      id: d.id,
      applicationRef: d.applicationRef,
      idempotencyKey: record.idempotencyKey,
      inputHash: record.inputHash,
      inputJson: JSON.stringify(record.input),
      featuresJson: JSON.stringify(record.features),
      probability: d.probabilityOfDefault,
      score: d.score,
      outcome: d.outcome,
      reasonsJson: JSON.stringify(d.reasons),
      policyHitsJson: JSON.stringify(d.policyHits),
      modelVersion: d.modelVersion,
      modelSha256: record.modelSha256,
      policyVersion: d.policyVersion,
      decidedAt: d.decidedAt.toISOString(),
      receivedAt: record.receivedAt.toISOString(),
      latencyMs: record.latencyMs,
      caller: record.caller,
    });
    if (changes === 1) return { kind: 'stored' };
    // Another request (here or on another replica) committed this key first: its decision is the one made.
    const existing = this.byKey.get(record.idempotencyKey!)!;
    return existing.input_hash === record.inputHash
      ? { kind: 'replayed', decision: decisionFromRow(existing) }
      : { kind: 'key-reused' };
  }

  /** Resolves once the record is committed (or the key's earlier decision is found). */
  record(record: AuditRecord): Promise<RecordResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.flushScheduled = false;
    let results: RecordResult[];
    try {
      results = this.writeBatch(batch);
      this.transactions++;
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]));
  }

  getDecision(id: string): Decision | undefined {
    const row = this.byId.get(id);
    return row && decisionFromRow(row);
  }

  /** The decision already made under a key, with the hash of the input it was made for. */
  findByKey(key: string): { decision: Decision; inputHash: string } | undefined {
    const row = this.byKey.get(key);
    return row && { decision: decisionFromRow(row), inputHash: row.input_hash };
  }

  /** The full stored record, for audits and tests. */
  getRecord(id: string): Record<string, unknown> | undefined {
    return this.db.prepare('SELECT * FROM decisions WHERE id = ?').get(id) as Record<string, unknown> | undefined;
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
  }

  close(): void {
    if (this.pending.length > 0) this.flush();
    this.db.close();
  }
}
