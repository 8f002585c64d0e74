import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
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
import { decisionFromRow, parseDecisionId, type DecisionRow } from './records.js';
import {
  BATCHES_BY_IDS_SQL,
  BY_CALLER_KEYS_SQL,
  BY_ID_SQL,
  DEFAULT_BUSY_TIMEOUT_MS,
  openAuditDatabase,
  type AuditSync,
} from './sqlite-schema.js';
import type { ReviewValues, RowOutcome, WriteReply, WriteRequest } from './sqlite-writer.js';
import { decisionsFromBatches, historyStatement, type HistoryQuery, type ListedBatch, type ListedRow } from './history.js';
import type { Review } from '../review.js';

export type { AuditSync };

/**
 * SQLite's codes for a file that cannot be written now but may be later: a full volume, a read-only file or file
 * system, a lock held past the busy timeout, an I/O error, a file that cannot be opened. Extended codes
 * (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT, …) count with their primary code.
 */
const UNAVAILABLE = /^SQLITE_(FULL|READONLY|BUSY|LOCKED|IOERR|CANTOPEN)(_[A-Z_]+)?$/;

export const isUnavailableCode = (code: string | undefined): boolean => code !== undefined && UNAVAILABLE.test(code);

export interface SqliteStoreOptions extends AuditStoreEvents {
  /** @default 5000 (DEFAULT_BUSY_TIMEOUT_MS) */
  busyTimeoutMs?: number;
}

interface Pending {
  batch: AuditBatch;
  resolve: (results: RecordResult[]) => void;
  reject: (error: unknown) => void;
}

function startWriter(file: string, sync: AuditSync, busyTimeoutMs: number): Worker {
  const workerData = { file, sync, busyTimeoutMs };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./sqlite-writer.js', import.meta.url), { workerData });
  // Under tsx or vitest this module is TypeScript, and so is its worker: load it through tsx's loader.
  // require.resolve finds the CommonJS build of tsx's API; its ES build (which the worker imports) sits beside it.
  const tsxApi = createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs');
  const tsx = pathToFileURL(tsxApi).href;
  const entry = new URL('./sqlite-writer.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * The durable audit trail: one SQLite file in WAL mode, shared safely by every replica process on the host. A
 * request's decisions are one batch (one batch row, one narrow index row each); the batches queued in the same turn
 * of the event loop are written in one transaction by a writer thread, and each caller's promise settles only after
 * that transaction commits. Reads run here, on a
 * connection of their own.
 *
 * When SQLite cannot write the file (see isUnavailableCode) the store is unavailable: the failed records and every
 * record after them are refused with AuditUnavailableError at once (a retryable 503, nothing acknowledged), and a
 * probe write through the writer thread every PROBE_INTERVAL_MS makes it available again once one commits.
 */
export class SqliteAuditStore implements AuditStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly writer: Worker;
  private readonly queue = new TurnQueue<Pending>((pending) => this.flush(pending));
  private readonly inFlight = new Map<number, Pending[]>();
  private readonly reviews = new Map<number, { resolve: (r: 'stored' | 'already-reviewed') => void; reject: (e: unknown) => void }>();
  private seq = 0;
  private failure: Error | undefined;
  private readonly availability: Availability;
  private probeSeq: number | undefined;
  private closing = false;
  private readonly byId: Database.Statement<[string, number], DecisionRow>;
  private readonly byCallerKeys: Database.Statement<[string | null, string], DecisionRow>;
  private readonly batchesByIds: Database.Statement<[string], ListedBatch>;
  /** transactions committed so far (tests, metrics) */
  transactions = 0;

  constructor(
    readonly file: string,
    sync: AuditSync = 'full',
    private readonly options: SqliteStoreOptions = {},
  ) {
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    this.availability = new Availability(() => this.probe(), options.onAvailabilityChange);
    // Opening here first creates the schema and reports a bad path or a corrupt file at start-up, synchronously.
    this.db = openAuditDatabase(file, sync, busyTimeoutMs);
    this.byId = this.db.prepare(BY_ID_SQL);
    this.byCallerKeys = this.db.prepare(BY_CALLER_KEYS_SQL);
    this.batchesByIds = this.db.prepare(BATCHES_BY_IDS_SQL);
    this.writer = startWriter(file, sync, busyTimeoutMs);
    this.writer.on('message', (reply: WriteReply) => this.settle(reply));
    this.writer.on('error', (error) => this.fail(error));
    this.writer.on('exit', (code) => this.fail(new Error(`the audit writer thread exited (${code})`)));
  }

  /** The file was opened (and migrated) by the constructor, so that a bad path fails at once. */
  async open(): Promise<void> {}

  /** Takes writes: false while SQLite cannot write the file (until a write commits again) or the writer is gone. */
  get writable(): boolean {
    return this.failure === undefined && this.availability.unavailable === undefined;
  }

  recordBatch(batch: AuditBatch): Promise<RecordResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    // Fail fast rather than queue behind a full disk or wait out the busy timeout again: the probe finds recovery.
    const unavailable = this.availability.unavailable;
    if (unavailable) return Promise.reject(new AuditUnavailableError(unavailable.code));
    return new Promise((resolve, reject) => this.queue.push({ batch, resolve, reject }));
  }

  private flush(batch: Pending[]): void {
    let batches: BatchRows[];
    try {
      batches = batch.map((p) => batchRows(p.batch));
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    const seq = ++this.seq;
    this.inFlight.set(seq, batch);
    this.writer.postMessage({ seq, batches } satisfies WriteRequest);
  }

  private settle(reply: WriteReply): void {
    if (reply.seq === this.probeSeq) {
      this.probeSeq = undefined;
      if ('error' in reply) this.writeFailed(reply);
      else this.availability.set(undefined);
      return;
    }
    const review = this.reviews.get(reply.seq);
    if (review) {
      this.reviews.delete(reply.seq);
      if ('error' in reply) review.reject(this.writeFailed(reply));
      else if ('reviewed' in reply) review.resolve(reply.reviewed ? 'stored' : 'already-reviewed');
      return;
    }
    const batch = this.inFlight.get(reply.seq);
    if (!batch || !('outcomes' in reply || 'error' in reply)) return;
    this.inFlight.delete(reply.seq);
    if ('error' in reply) {
      const error = this.writeFailed(reply);
      for (const p of batch) p.reject(error);
      return;
    }
    this.availability.set(undefined);
    this.transactions++;
    batch.forEach((p, i) => p.resolve(reply.outcomes[i].map((outcome, n) => this.resultOf(p.batch.items[n], outcome))));
  }

  /** The error a failed write's callers get: typed and retryable when the file cannot be written, else masked. */
  private writeFailed(reply: { error: string; code?: string }): Error {
    this.options.onWriteFailure?.(reply.code ?? 'unknown');
    if (!isUnavailableCode(reply.code)) return new Error(`audit write failed: ${reply.error}`);
    this.availability.set({ code: reply.code!, message: reply.error });
    return new AuditUnavailableError(reply.code!, { cause: new Error(reply.error) });
  }

  /** One tiny committed write through the writer thread; at most one in flight. */
  private probe(): void {
    if (this.probeSeq !== undefined || this.failure || this.closing) return;
    this.probeSeq = ++this.seq;
    this.writer.postMessage({ seq: this.probeSeq, probe: true } satisfies WriteRequest);
  }

  /** A read that fails because the file cannot be used is as unavailable as a write (503, not a masked 500). */
  private read<T>(query: () => T): T {
    try {
      return query();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code !== 'string' || !isUnavailableCode(code)) throw error;
      this.availability.set({ code, message: (error as Error).message });
      throw new AuditUnavailableError(code, { cause: error });
    }
  }

  private resultOf(item: AuditItem, outcome: RowOutcome): RecordResult {
    if (outcome.kind === 'stored') return { kind: 'stored' };
    return outcome.existing.input_hash === item.inputHash
      ? { kind: 'replayed', decision: decisionFromRow(outcome.existing) }
      : { kind: 'key-reused' };
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.availability.stop();
    for (const batch of this.inFlight.values()) for (const p of batch) p.reject(error);
    this.inFlight.clear();
    for (const r of this.reviews.values()) r.reject(error);
    this.reviews.clear();
    for (const p of this.queue.take()) p.reject(error);
  }

  // SQLite reads are synchronous and take microseconds: the promises only match the interface.
  async getDecision(id: string): Promise<{ decision: Decision; caller: string | null } | undefined> {
    const row = this.read(() => this.byId.get(...parseDecisionId(id)));
    return row && { decision: decisionFromRow(row), caller: row.caller };
  }

  async findByKeys(caller: string | null, keys: readonly string[]): Promise<Map<string, { decision: Decision; inputHash: string }>> {
    const found = new Map<string, { decision: Decision; inputHash: string }>();
    if (keys.length === 0) return found;
    for (const row of this.read(() => this.byCallerKeys.all(caller, JSON.stringify(keys)))) {
      // a row stored under a key always has its input hash
      found.set(row.idempotency_key!, { decision: decisionFromRow(row), inputHash: row.input_hash! });
    }
    return found;
  }

  async listDecisions(query: HistoryQuery): Promise<Decision[]> {
    const { sql, params } = historyStatement(query, () => '?');
    return this.read(() => {
      // the statement differs with the filter: better-sqlite3 caches nothing, SQLite plans it in microseconds
      const rows = this.db.prepare<unknown[], ListedRow>(sql).all(...params);
      if (rows.length === 0) return [];
      const batches = this.batchesByIds.all(JSON.stringify([...new Set(rows.map((r) => r.batch_id))]));
      return decisionsFromBatches(rows, batches);
    });
  }

  recordReview(decisionId: string, review: Review): Promise<'stored' | 'already-reviewed'> {
    if (this.failure) return Promise.reject(this.failure);
    const unavailable = this.availability.unavailable;
    if (unavailable) return Promise.reject(new AuditUnavailableError(unavailable.code));
    const [batchId, position] = parseDecisionId(decisionId);
    const values: ReviewValues = [
      batchId,
      position,
      review.outcome,
      JSON.stringify(review.reasonCodes),
      review.note,
      review.reviewer,
      review.reviewedAt.toISOString(),
    ];
    return new Promise((resolve, reject) => {
      const seq = ++this.seq;
      this.reviews.set(seq, { resolve, reject });
      this.writer.postMessage({ seq, review: values } satisfies WriteRequest);
    });
  }

  async getRecord(id: string): Promise<Record<string, unknown> | undefined> {
    const row = this.db
      .prepare(
        `SELECT d.*, b.received_at, b.latency_ms, b.model_version, b.model_sha256, b.policy_version, b.descriptions,
           json_extract(b.body, '$[' || d.position || ']') AS entry
         FROM decisions d JOIN decision_batches b ON b.batch_id = d.batch_id WHERE d.batch_id = ? AND d.position = ?`,
      )
      .get(...parseDecisionId(id)) as Record<string, unknown> | undefined;
    return row && { id, ...row, entry: JSON.parse(row.entry as string) };
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
  }

  /** Writes what is queued, waits for every write to commit, then stops the writer thread. */
  async close(): Promise<void> {
    this.closing = true;
    this.availability.stop();
    this.queue.drain();
    while ((this.inFlight.size > 0 || this.reviews.size > 0) && !this.failure) await new Promise((r) => setTimeout(r, 5));
    this.writer.removeAllListeners('exit');
    const exited = new Promise((resolve) => this.writer.once('exit', resolve));
    this.writer.postMessage('close');
    await exited;
    this.db.close();
  }
}
