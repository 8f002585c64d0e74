import type { ChallengerDecision, Decision } from '../decision.js';
import type { Review } from '../review.js';
import type { HistoryQuery } from './history.js';
import type { BatchValues, Entry, IndexValues } from './records.js';

/**
 * The durable audit trail, whatever holds it: SQLite on one host (sqlite-store.ts), PostgreSQL beyond one
 * (postgres-store.ts). Both keep the same promises: a batch is committed before recordBatch resolves, so nothing is
 * answered that is not recorded; an idempotency key yields one decision per caller, decided by a unique constraint;
 * a store that cannot take writes says so with AuditUnavailableError (a retryable 503) and is not writable until a
 * probe write of its own commits again.
 */
export interface AuditStore {
  /** which engine holds the trail: shown by /ready and logged at start-up (never a URL or a password) */
  readonly kind: 'sqlite' | 'postgresql';
  /** false while the store cannot take writes (until a probe write commits again) */
  readonly writable: boolean;
  /** transactions committed so far by this process (tests, metrics) */
  readonly transactions: number;
  /** Ready to record: a PostgreSQL database is reached and migrated here; rejects with a clear message if it cannot be. */
  open(): Promise<void>;
  /**
   * Resolves once the batch is committed, with one result per item: stored, or, where the caller's idempotency key
   * was taken meanwhile (by another request, on any replica), the decision made under it or key-reused.
   */
  recordBatch(batch: AuditBatch): Promise<RecordResult[]>;
  /** A decision and the partner key id it was made for (null: made without keys configured). */
  getDecision(id: string): Promise<{ decision: Decision; caller: string | null } | undefined>;
  /** The decisions a caller already made under any of `keys`, by key: one query for a whole batch's keys. */
  findByKeys(caller: string | null, keys: readonly string[]): Promise<Map<string, { decision: Decision; inputHash: string }>>;
  /** Everything stored of one decision (its index row, its batch's row, its entry decoded), for audits and tests. */
  getRecord(id: string): Promise<Record<string, unknown> | undefined>;
  /**
   * Decisions newest first (decided_at, then id, descending) after the query's cursor, filtered, at most `limit`:
   * keyset pagination on the trail's indexes, so the 1,000th page costs what the first does.
   */
  listDecisions(query: HistoryQuery): Promise<Decision[]>;
  /**
   * Records a person's review of a decision, append-only, beside it: 'stored', or 'already-reviewed' when it has one
   * (from any replica: a unique constraint decides, not a read before the write).
   */
  recordReview(decisionId: string, review: Review): Promise<'stored' | 'already-reviewed'>;
  /** decisions recorded (indexed) in the whole trail */
  count(): Promise<number>;
  /** Writes what is queued, waits for every write to commit, then lets go of the engine. */
  close(): Promise<void>;
}

/**
 * Seconds a client should wait before retrying a write the audit trail refused: a full or read-only volume, a stuck
 * lock or a database restarting takes a while to clear, and every replica shares the trail.
 */
export const AUDIT_RETRY_AFTER_SECONDS = 5;

/** While writes fail, a one-row probe write is tried this often, so the replica recovers without client traffic. */
export const PROBE_INTERVAL_MS = 1_000;

/** The audit trail cannot record a decision now (full volume, locked file, database unreachable): retry later. */
export class AuditUnavailableError extends Error {
  readonly retryAfterSeconds = AUDIT_RETRY_AFTER_SECONDS;
  constructor(
    /** the engine's code, e.g. SQLITE_FULL, ECONNREFUSED or 57P01: for logs and metrics, not for clients */
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super('The decision cannot be recorded in the audit trail right now; retry later', options);
  }
}

/** Why a store takes no writes now: the engine's code and message, for logs and metrics. */
export interface Unavailable {
  code: string;
  message: string;
}

/**
 * Whether a store takes writes. While it does not, its callers refuse writes at once (AuditUnavailableError) and
 * `probe` runs every PROBE_INTERVAL_MS, on a timer that keeps no process alive, until a write commits and the store
 * calls `set(undefined)`; each change is reported once through `onChange`.
 */
export class Availability {
  private state: Unavailable | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly probe: () => void,
    private readonly onChange?: AuditStoreEvents['onAvailabilityChange'],
  ) {}

  get unavailable(): Unavailable | undefined {
    return this.state;
  }

  set(unavailable: Unavailable | undefined): void {
    const was = this.state;
    this.state = unavailable;
    if (unavailable && !was && !this.stopped) {
      this.timer = setInterval(this.probe, PROBE_INTERVAL_MS).unref();
    } else if (!unavailable && was) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    if (!unavailable !== !was) this.onChange?.(unavailable);
  }

  /** No more probes: the store is closing, or has failed for good. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * What is handed in during one turn of the event loop, handed on together at the next: the batches of every request
 * decided in that turn go into one transaction.
 */
export class TurnQueue<T> {
  private items: T[] = [];

  constructor(private readonly flush: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length === 1) setImmediate(() => this.drain());
  }

  /** Hands on what is queued now (at the next turn, or at once before closing); nothing when it is empty. */
  drain(): void {
    const items = this.take();
    if (items.length > 0) this.flush(items);
  }

  /** Takes what is queued without handing it on: a store that failed for good refuses it. */
  take(): T[] {
    const items = this.items;
    this.items = [];
    return items;
  }
}

export interface AuditStoreEvents {
  /** every failed write transaction (probes included), with the engine's code or "unknown" */
  onWriteFailure?: (code: string) => void;
  /** the store stopped (`code` set) or resumed (`code` undefined) taking writes */
  onAvailabilityChange?: (unavailable: { code: string; message: string } | undefined) => void;
}

/** Everything the lender may need to show later about the decisions of one request. */
export interface AuditBatch {
  /** random: the unguessable part of every decision id of the batch */
  batchId: string;
  /** the partner key id, where known */
  caller: string | null;
  receivedAt: Date;
  decidedAt: Date;
  latencyMs: number;
  policyVersion: string;
  items: AuditItem[];
}

export interface AuditItem {
  decision: Decision;
  /** the input as the API received it */
  input: unknown;
  idempotencyKey: string | null;
  /** with an idempotency key, SHA-256 of the canonical input: tells a replay from a reused key */
  inputHash: string | null;
  modelSha256: string;
}

export type RecordResult =
  | { kind: 'stored' }
  | { kind: 'replayed'; decision: Decision }
  | { kind: 'key-reused' };

/** One decided batch as stored: its batch row and one index row per decision. */
export interface BatchRows {
  batch: BatchValues;
  index: IndexValues[];
}

/** What a challenger would have decided, as an entry keeps it: its model only when it is not the batch's challenger. */
function challengerValues(c: ChallengerDecision, batchChallenger: ChallengerDecision): NonNullable<Entry[8]> {
  return c.sha256 === batchChallenger.sha256 && c.modelVersion === batchChallenger.modelVersion
    ? [c.probabilityOfDefault, c.outcome]
    : [c.probabilityOfDefault, c.outcome, c.modelVersion, c.sha256];
}

/** A batch's rows: its body (one JSON array, an entry per decision) and one index row per decision. */
export function batchRows(batch: AuditBatch): BatchRows {

  const first = batch.items[0];
  const modelVersion = first.decision.modelVersion;
  const reasonTexts: Record<string, string> = {};
  const hitTexts: Record<string, string> = {};
  const index: IndexValues[] = new Array(batch.items.length);
  const entries: Entry[] = new Array(batch.items.length);
  const decidedAt = batch.decidedAt.toISOString();
  // the batch's challenger, named once in its descriptions; an entry names its own only when a swap split the batch
  const challenger = batch.items.find((item) => item.decision.challenger !== undefined)?.decision.challenger;
  for (let n = 0; n < batch.items.length; n++) {
    const { decision: d, input, idempotencyKey, inputHash, modelSha256 } = batch.items[n];
    const reasons: Entry[4] = new Array(d.reasons.length);
    for (let r = 0; r < d.reasons.length; r++) {
      const reason = d.reasons[r];
      reasonTexts[reason.code] = reason.description;
      reasons[r] = [reason.code, reason.source, reason.feature, reason.impact, reason.ruleId];
    }
    const hits: Entry[5] = new Array(d.policyHits.length);
    for (let h = 0; h < d.policyHits.length; h++) {
      const hit = d.policyHits[h];
      hitTexts[hit.ruleId] = hit.description;
      hits[h] = [hit.ruleId, hit.effect];
    }
    const sameModel = d.modelVersion === modelVersion && modelSha256 === first.modelSha256;
    const model: Entry[6] = sameModel ? null : [d.modelVersion, modelSha256];
    const c = d.challenger;
    entries[n] =
      c !== undefined
        ? [input, d.probabilityOfDefault, d.score, d.outcome, reasons, hits, model, null, challengerValues(c, challenger!)]
        : sameModel
          ? [input, d.probabilityOfDefault, d.score, d.outcome, reasons, hits]
          : [input, d.probabilityOfDefault, d.score, d.outcome, reasons, hits, model];
    index[n] = [batch.batchId, n, batch.caller, d.outcome, decidedAt, d.applicationRef, idempotencyKey, inputHash, sameModel ? null : d.modelVersion];
  }
  return {
    batch: [
      batch.batchId,
      batch.caller,
      batch.receivedAt.toISOString(),
      decidedAt,
      batch.latencyMs,
      modelVersion,
      first.modelSha256,
      batch.policyVersion,
      JSON.stringify(challenger ? { r: reasonTexts, h: hitTexts, c: [challenger.modelVersion, challenger.sha256] } : { r: reasonTexts, h: hitTexts }),
      // one native pass over the whole batch
      JSON.stringify(entries),
    ],
    index,
  };
}
