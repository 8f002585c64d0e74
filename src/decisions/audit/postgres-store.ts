import pg from 'pg';
import type { Decision } from '../decision.js';
import {
  Availability,
  AuditUnavailableError,
  batchRows,
  TurnQueue,
  type AuditBatch,
  type AuditItem,
  type AuditStore,
  type AuditStoreEvents,
  type BatchRows,
  type RecordResult,
} from './audit-store.js';
import { addMonths, ensurePartitions, migrate, monthStart, PARTITION_MONTHS_AHEAD } from './postgres-schema.js';
import { decisionFromRow, parseDecisionId, type DecisionRow } from './records.js';
import { decisionsFromBatches, historyStatement, type HistoryQuery, type ListedBatch, type ListedRow } from './history.js';
import type { Review } from '../review.js';

export interface PostgresStoreOptions extends AuditStoreEvents {
  /** connections this replica opens at most */
  poolSize: number;
  /** how long a write may wait for a connection or a statement before SERVICE_UNAVAILABLE (503) */
  timeoutMs: number;
}

/** What may be shown or logged of a database URL: host, port and database; never the user or the password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * PostgreSQL's and the network's codes for a database that cannot take a write now but may later: connection
 * failures (class 08, refused or reset sockets), a server shutting down or starting (57P01-57P03), resources
 * (class 53: disk full, too many connections), a statement or lock wait past the timeout (57014, 55P03), a
 * read-only server after a fail-over (25006), and deadlocks or serialization failures left after retries.
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-3]|57014|55P03|25006|40001|40P01|58030)$/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** node-postgres reports a lost connection and its own timeouts by message only */
const UNAVAILABLE_MESSAGES: Array<[RegExp, string]> = [
  [/Connection terminated/i, 'CONNECTION_TERMINATED'],
  [/timeout exceeded when trying to connect/i, 'CONNECT_TIMEOUT'],
  [/Query read timeout/i, 'QUERY_TIMEOUT'],
  [/Client has encountered a connection error/i, 'CONNECTION_ERROR'],
  [/Connection ended unexpectedly/i, 'CONNECTION_TERMINATED'],
];

export function unavailableCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return code;
  const message = error instanceof Error ? error.message : '';
  for (const [pattern, name] of UNAVAILABLE_MESSAGES) if (pattern.test(message)) return name;
  // an AggregateError (every address of a host refused) carries the codes of its errors
  if (error instanceof AggregateError) for (const e of error.errors) if (unavailableCode(e)) return unavailableCode(e);
  return undefined;
}

/**
 * node-postgres may hang the client, and with it the connection parameters and the password, on an error (pg-pool
 * sets `error.client` on an idle connection's error): what is kept as a cause, and so may reach a log, is only the
 * message and the code.
 */
function withoutClient(error: unknown): Error {
  const plain = new Error(error instanceof Error ? error.message : String(error));
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') Object.assign(plain, { code });
  return plain;
}

const RETRIES = 3;
/** retried at once: the statement was rolled back whole, and the other transaction has moved on */
const RETRYABLE = new Set(['40001', '40P01']);
/** while the store takes writes, a one-row read this often tells /ready that the database went away without traffic */
const HEARTBEAT_MS = 2_000;
const PARTITION_CHECK_MS = 6 * 3600_000;

const DECISION_SELECT = `SELECT d.batch_id, d.position, d.idempotency_key, d.caller, d.outcome, d.decided_at,
    d.application_ref, d.input_hash, (b.body -> d.position)::text AS entry, b.descriptions::text AS descriptions,
    coalesce(d.model_version, b.model_version) AS model_version, b.policy_version,
    r.outcome AS review_outcome, r.reason_codes::text AS review_reason_codes, r.note AS review_note,
    r.reviewer AS review_reviewer, r.reviewed_at AS review_reviewed_at
  FROM decisions d JOIN decision_batches b ON b.batch_id = d.batch_id AND b.decided_at = d.decided_at
  LEFT JOIN reviews r ON r.batch_id = d.batch_id AND r.position = d.position AND r.decided_at = d.decided_at`;

const BATCHES_BY_IDS_SQL = `SELECT batch_id, body::text AS body, descriptions::text AS descriptions, model_version, policy_version
  FROM decision_batches WHERE batch_id = ANY($1::text[])`;

/** One review per decision: the primary key decides between replicas; the decision's month from its index row. */
const REVIEW_INSERT_SQL = `INSERT INTO reviews (batch_id, position, decided_at, outcome, reason_codes, note, reviewer, reviewed_at)
  SELECT batch_id, position, decided_at, $3, $4::json, $5, $6, $7 FROM decisions WHERE batch_id = $1 AND position = $2
  ON CONFLICT DO NOTHING`;

const BY_ID_SQL = `${DECISION_SELECT} WHERE d.batch_id = $1 AND d.position = $2`;

const BY_CALLER_KEYS_SQL = `${DECISION_SELECT}
  JOIN idempotency_keys k ON k.batch_id = d.batch_id AND k.position = d.position AND k.decided_at = d.decided_at
  WHERE k.caller = $1 AND k.idempotency_key = ANY($2::text[])`;

const PROBE_SQL = `INSERT INTO write_probe (id, at) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET at = excluded.at`;

const BATCH_COLUMNS = 10;

/**
 * One statement writes a flush's batches whole: the batch rows, the idempotency keys (a unique constraint decides
 * which request gets a key, here or on another replica: the loser's insert does nothing), and the index rows of every
 * decision except those whose key was taken. It answers with the decisions whose key was taken. A single statement
 * commits atomically on its own: no BEGIN/COMMIT round trips.
 */
function writeStatement(batchCount: number, keyed: boolean): string {
  const values: string[] = [];
  for (let b = 0; b < batchCount; b++) {
    const p = (n: number) => `$${b * BATCH_COLUMNS + n}`;
    values.push(`(${p(1)}, ${p(2)}, ${p(3)}::timestamptz, ${p(4)}::timestamptz, ${p(5)}::float8, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}::json, ${p(10)}::json)`);
  }
  const i = (n: number) => `$${batchCount * BATCH_COLUMNS + n}`;
  const input = `SELECT * FROM unnest(${i(1)}::text[], ${i(2)}::int[], ${i(3)}::text[], ${i(4)}::text[], ${i(5)}::timestamptz[],
      ${i(6)}::text[], ${i(7)}::text[], ${i(8)}::text[], ${i(9)}::text[])
    AS t(batch_id, position, caller, outcome, decided_at, application_ref, idempotency_key, input_hash, model_version)`;
  const batches = `INSERT INTO decision_batches (batch_id, caller, received_at, decided_at, latency_ms, model_version,
      model_sha256, policy_version, descriptions, body) VALUES ${values.join(', ')}`;
  const decisions = `INSERT INTO decisions (batch_id, position, caller, outcome, decided_at, application_ref,
      idempotency_key, input_hash, model_version)`;
  if (!keyed) return `WITH batches AS (${batches}) ${decisions} ${input}`;
  return `WITH batches AS (${batches}),
    input AS (${input}),
    keys AS (
      INSERT INTO idempotency_keys (caller, idempotency_key, batch_id, position, decided_at, input_hash)
      SELECT coalesce(caller, ''), idempotency_key, batch_id, position, decided_at, input_hash FROM input
      WHERE idempotency_key IS NOT NULL ORDER BY 1, 2
      ON CONFLICT DO NOTHING
      RETURNING batch_id, position),
    stored AS (
      ${decisions} SELECT * FROM input
      WHERE idempotency_key IS NULL OR (batch_id, position) IN (SELECT batch_id, position FROM keys))
    SELECT batch_id, position, caller, idempotency_key FROM input WHERE idempotency_key IS NOT NULL
      AND (batch_id, position) NOT IN (SELECT batch_id, position FROM keys)`;
}

function writeParameters(batches: BatchRows[]): unknown[] {
  const params: unknown[] = [];
  for (const { batch } of batches) params.push(...batch);
  const columns: unknown[][] = [[], [], [], [], [], [], [], [], []];
  for (const { index } of batches) {
    for (const row of index) for (let c = 0; c < 9; c++) columns[c].push(row[c]);
  }
  params.push(...columns);
  return params;
}

interface Pending {
  batch: AuditBatch;
  resolve: (results: RecordResult[]) => void;
  reject: (error: unknown) => void;
}

/**
 * The audit trail in PostgreSQL, shared by replicas on any number of hosts through a connection pool. Batches queued
 * in the same turn of the event loop are written by one statement on one connection; several such writes run at
 * once on the pool. A caller's promise settles after its statement commits (synchronous_commit as the server sets
 * it: on by default, so committed means on disk).
 *
 * When the database cannot be reached or refuses writes (see unavailableCode), the failed records and every record
 * after them are refused with AuditUnavailableError (a retryable 503, nothing acknowledged), /ready turns 503, and a
 * probe write every PROBE_INTERVAL_MS makes the store writable again once one commits; the pool reconnects by itself.
 */
export class PostgresAuditStore implements AuditStore {
  readonly kind = 'postgresql';
  private readonly pool: pg.Pool;
  private readonly queue = new TurnQueue<Pending>((pending) => this.flush(pending));
  private readonly writes = new Set<Promise<void>>();
  private readonly availability: Availability;
  private opened = false;
  private closing = false;
  private probing = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private partitionTimer: NodeJS.Timeout | undefined;
  transactions = 0;

  constructor(
    private readonly url: string,
    private readonly options: PostgresStoreOptions,
  ) {
    this.availability = new Availability(() => void this.probe(), options.onAvailabilityChange);
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize,
      connectionTimeoutMillis: options.timeoutMs,
      // client-side and server-side: a database that hangs is answered 503 rather than holding requests
      query_timeout: options.timeoutMs,
      statement_timeout: options.timeoutMs,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'loan-decisioning-api',
    });
    // An idle connection that the server closes (a restart, a fail-over) is dropped by the pool, which reports it
    // here; without a listener it would be an uncaught error.
    this.pool.on('error', (error) => this.noteFailure(error));
  }

  /** host:port/database: what /ready's logs may say of where the trail is */
  get location(): string {
    return describeDatabaseUrl(this.url);
  }

  get writable(): boolean {
    return this.opened && !this.closing && this.availability.unavailable === undefined;
  }

  /** Applies the migrations (once across replicas) and creates the coming months' partitions; throws if unreachable. */
  async open(): Promise<void> {
    try {
      await this.withSchemaPool((pool) => migrate(pool));
    } catch (error) {
      throw new Error(`the audit database at ${this.location} cannot be used: ${(error as Error).message}`, { cause: withoutClient(error) });
    }
    this.opened = true;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS).unref();
    this.partitionTimer = setInterval(() => void this.ensureMonths(new Date(), new Date()).catch(() => undefined), PARTITION_CHECK_MS).unref();
  }

  recordBatch(batch: AuditBatch): Promise<RecordResult[]> {
    if (!this.opened || this.closing) return Promise.reject(new Error('the audit store is not open'));
    const unavailable = this.availability.unavailable;
    if (unavailable) return Promise.reject(new AuditUnavailableError(unavailable.code));
    return new Promise((resolve, reject) => this.queue.push({ batch, resolve, reject }));
  }

  private flush(pending: Pending[]): void {
    const write = this.write(pending).finally(() => this.writes.delete(write));
    this.writes.add(write);
  }

  private async write(pending: Pending[]): Promise<void> {
    let rows: BatchRows[];
    try {
      rows = pending.map((p) => batchRows(p.batch));
    } catch (error) {
      for (const p of pending) p.reject(error);
      return;
    }
    const keyed = rows.some((r) => r.index.some((row) => row[6] !== null));
    const sql = writeStatement(rows.length, keyed);
    const params = writeParameters(rows);
    let taken: Array<{ batch_id: string; position: number; caller: string | null; idempotency_key: string }>;
    try {
      taken = (await this.runWrite(sql, params, pending)).rows;
    } catch (error) {
      const refused = this.refusal(error);
      for (const p of pending) p.reject(refused);
      return;
    }
    this.transactions++;
    this.availability.set(undefined);
    let existing = new Map<string, DecisionRow>();
    if (taken.length > 0) {
      try {
        existing = await this.existingDecisions(taken);
      } catch (error) {
        // committed, but the winners' decisions could not be read back: nothing of this flush is acknowledged
        const refused = this.refusal(error);
        for (const p of pending) p.reject(refused);
        return;
      }
    }
    const takenAt = new Set(taken.map((t) => `${t.batch_id}.${t.position}`));
    for (const p of pending) {
      p.resolve(
        p.batch.items.map((item, n) => {
          if (!takenAt.has(`${p.batch.batchId}.${n}`)) return { kind: 'stored' };
          return this.resultOf(item, existing.get(`${p.batch.caller ?? ''}\u0000${item.idempotencyKey}`));
        }),
      );
    }
  }

  /** The write statement, retried on a deadlock or serialization failure, and once after creating a missing month. */
  private async runWrite(sql: string, params: unknown[], pending: Pending[]) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query(sql, params);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '23514' && /no partition/i.test((error as Error).message) && attempt === 1) {
          const times = pending.map((p) => p.batch.decidedAt.getTime());
          await this.ensureMonths(new Date(Math.min(...times)), new Date(Math.max(...times)));
          continue;
        }
        if (code !== undefined && RETRYABLE.has(code) && attempt < RETRIES) continue;
        throw error;
      }
    }
  }

  private ensureMonths(from: Date, to: Date): Promise<void> {
    return this.withSchemaPool((pool) => ensurePartitions(pool, from, addMonths(monthStart(to), PARTITION_MONTHS_AHEAD)));
  }

  /**
   * Schema changes run on a connection of their own, without the request path's timeouts: a migration may take
   * longer than a write may wait, and so may waiting for another replica's advisory lock.
   */
  private async withSchemaPool<T>(work: (pool: pg.Pool) => Promise<T>): Promise<T> {
    const pool = new pg.Pool({
      connectionString: this.url,
      max: 1,
      connectionTimeoutMillis: this.options.timeoutMs,
      application_name: 'loan-decisioning-api-schema',
    });
    pool.on('error', () => undefined);
    try {
      return await work(pool);
    } finally {
      await pool.end();
    }
  }

  /** The decisions that won the keys this flush lost, by caller and key. */
  private async existingDecisions(taken: Array<{ caller: string | null; idempotency_key: string }>): Promise<Map<string, DecisionRow>> {
    const byCaller = new Map<string, string[]>();
    for (const t of taken) {
      const caller = t.caller ?? '';
      byCaller.set(caller, [...(byCaller.get(caller) ?? []), t.idempotency_key]);
    }
    const found = new Map<string, DecisionRow>();
    for (const [caller, keys] of byCaller) {
      const { rows } = await this.pool.query<DecisionRow>(BY_CALLER_KEYS_SQL, [caller, keys]);
      for (const row of rows) found.set(`${caller}\u0000${row.idempotency_key}`, row);
    }
    return found;
  }

  private resultOf(item: AuditItem, existing: DecisionRow | undefined): RecordResult {
    // no row: the key's decision left with its month (retention) while this write raced it; the key stays used
    if (!existing || existing.input_hash !== item.inputHash) return { kind: 'key-reused' };
    return { kind: 'replayed', decision: decisionFromRow(existing) };
  }

  /** The error a failed read or write's callers get: typed and retryable when the database is unavailable, else masked. */
  private refusal(error: unknown): Error {
    const code = this.noteFailure(error);
    if (code === undefined) return new Error(`audit write failed: ${(error as Error).message}`, { cause: withoutClient(error) });
    return new AuditUnavailableError(code, { cause: withoutClient(error) });
  }

  /** Counts a failure and, when it says the database is unavailable, stops taking writes until a probe commits. */
  private noteFailure(error: unknown): string | undefined {
    const code = unavailableCode(error);
    this.options.onWriteFailure?.(code ?? (error as { code?: string }).code ?? 'unknown');
    if (code !== undefined) this.availability.set({ code, message: (error as Error).message });
    return code;
  }

  private async probe(): Promise<void> {
    if (this.probing || this.closing) return;
    this.probing = true;
    try {
      await this.pool.query(PROBE_SQL);
      this.availability.set(undefined);
    } catch (error) {
      this.noteFailure(error);
    } finally {
      this.probing = false;
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.availability.unavailable || this.closing || this.probing) return;
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      this.noteFailure(error);
    }
  }

  private async read<T extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<T[]> {
    try {
      return (await this.pool.query<T>(sql, params)).rows;
    } catch (error) {
      const code = unavailableCode(error);
      if (code === undefined) throw withoutClient(error);
      this.availability.set({ code, message: (error as Error).message });
      throw new AuditUnavailableError(code, { cause: withoutClient(error) });
    }
  }

  async getDecision(id: string): Promise<{ decision: Decision; caller: string | null } | undefined> {
    const [batchId, position] = parseDecisionId(id);
    if (position < 0) return undefined;
    const [row] = await this.read<DecisionRow>(BY_ID_SQL, [batchId, position]);
    return row && { decision: decisionFromRow(row), caller: row.caller };
  }

  async findByKeys(caller: string | null, keys: readonly string[]): Promise<Map<string, { decision: Decision; inputHash: string }>> {
    const found = new Map<string, { decision: Decision; inputHash: string }>();
    if (keys.length === 0) return found;
    for (const row of await this.read<DecisionRow>(BY_CALLER_KEYS_SQL, [caller ?? '', keys])) {
      found.set(row.idempotency_key!, { decision: decisionFromRow(row), inputHash: row.input_hash! });
    }
    return found;
  }

  async listDecisions(query: HistoryQuery): Promise<Decision[]> {
    const { sql, params } = historyStatement(query, (n) => `$${n}`);
    const rows = await this.read<ListedRow>(sql, params);
    if (rows.length === 0) return [];
    const batches = await this.read<ListedBatch>(BATCHES_BY_IDS_SQL, [[...new Set(rows.map((r) => r.batch_id))]]);
    return decisionsFromBatches(rows, batches);
  }

  async recordReview(decisionId: string, review: Review): Promise<'stored' | 'already-reviewed'> {
    if (!this.opened || this.closing) throw new Error('the audit store is not open');
    const unavailable = this.availability.unavailable;
    if (unavailable) throw new AuditUnavailableError(unavailable.code);
    const [batchId, position] = parseDecisionId(decisionId);
    const params = [batchId, position, review.outcome, JSON.stringify(review.reasonCodes), review.note, review.reviewer, review.reviewedAt];
    for (let attempt = 1; ; attempt++) {
      try {
        const { rowCount } = await this.pool.query(REVIEW_INSERT_SQL, params);
        this.transactions++;
        return rowCount === 1 ? 'stored' : 'already-reviewed';
      } catch (error) {
        // a review of a decision whose month's reviews partition does not exist yet (a trail copied in)
        if ((error as { code?: string }).code === '23514' && attempt === 1) {
          const { rows } = await this.pool.query<{ decided_at: Date }>(
            'SELECT decided_at FROM decisions WHERE batch_id = $1 AND position = $2',
            [batchId, position],
          );
          if (rows[0]) await this.ensureMonths(rows[0].decided_at, rows[0].decided_at);
          continue;
        }
        throw this.refusal(error);
      }
    }
  }

  async getRecord(id: string): Promise<Record<string, unknown> | undefined> {
    const [batchId, position] = parseDecisionId(id);
    if (position < 0) return undefined;
    const [row] = await this.read<Record<string, unknown>>(
      `SELECT d.*, b.received_at, b.latency_ms, b.model_version, b.model_sha256, b.policy_version,
         b.descriptions::text AS descriptions, b.body -> d.position AS entry
       FROM decisions d JOIN decision_batches b ON b.batch_id = d.batch_id AND b.decided_at = d.decided_at
       WHERE d.batch_id = $1 AND d.position = $2`,
      [batchId, position],
    );
    if (!row) return undefined;
    // times as SQLite holds them, so a record reads the same from either store
    for (const [k, v] of Object.entries(row)) if (v instanceof Date) row[k] = v.toISOString();
    return { id, ...row };
  }

  async count(): Promise<number> {
    const [row] = await this.read<{ n: string }>('SELECT count(*) AS n FROM decisions', []);
    return Number(row.n);
  }

  async close(): Promise<void> {
    this.queue.drain();
    this.closing = true;
    this.availability.stop();
    clearInterval(this.heartbeatTimer);
    clearInterval(this.partitionTimer);
    while (this.writes.size > 0) await Promise.allSettled([...this.writes]);
    await this.pool.end();
  }
}
