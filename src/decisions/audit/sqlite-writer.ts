/**
 * The audit trail's writer thread. SQLite's inserts and fsyncs are synchronous: here they run beside the event loop
 * instead of blocking it. Each message holds the rows of one or more decided batches, written in one transaction;
 * the reply says, per decision, whether it was stored or whether its caller's idempotency key was already taken (and
 * by which decision: then its entry stays in the batch's body, unindexed: computed, never answered). A failed
 * transaction's reply carries SQLite's error code (SQLITE_FULL, SQLITE_BUSY, …) so the store can tell a file that
 * cannot be written from an unexpected failure. A probe is a one-row transaction that tells whether writes work again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BatchRows } from './audit-store.js';
import type { BatchValues, DecisionRow, IndexValues } from './records.js';
import {
  BATCH_INSERT_SQL,
  BY_CALLER_KEY_SQL,
  INDEX_INSERT_SQL,
  PROBE_SQL,
  REVIEW_INSERT_SQL,
  openAuditDatabase,
  type AuditSync,
} from './sqlite-schema.js';

/** A review's values, in the order of REVIEW_INSERT_SQL. */
export type ReviewValues = [batchId: string, position: number, outcome: string, reasonCodes: string, note: string | null, reviewer: string, reviewedAt: string];

export type WriteRequest = { seq: number; batches: BatchRows[] } | { seq: number; probe: true } | { seq: number; review: ReviewValues };

export type RowOutcome = { kind: 'stored' } | { kind: 'key-taken'; existing: DecisionRow };

export type WriteReply =
  | { seq: number; /** per batch, per decision */ outcomes: RowOutcome[][] }
  | { seq: number; /** false: the decision had a review already */ reviewed: boolean }
  | { seq: number; error: string; /** better-sqlite3's SqliteError code, e.g. SQLITE_FULL */ code?: string };

const { file, sync, busyTimeoutMs } = workerData as { file: string; sync: AuditSync; busyTimeoutMs: number };
const db = openAuditDatabase(file, sync, busyTimeoutMs);
const insertBatch = db.prepare<BatchValues>(BATCH_INSERT_SQL);
const insertIndex = db.prepare<IndexValues>(INDEX_INSERT_SQL);
const byCallerKey = db.prepare<[string | null, string], DecisionRow>(BY_CALLER_KEY_SQL);
const probe = db.prepare<[string]>(PROBE_SQL);
const insertReview = db.prepare<ReviewValues>(REVIEW_INSERT_SQL);

const STORED: RowOutcome = { kind: 'stored' };

const writeBatches = db.transaction((batches: BatchRows[]): RowOutcome[][] =>
  batches.map(({ batch, index }) => {
    insertBatch.run(...batch);
    return index.map((row) => {
      if (insertIndex.run(...row).changes === 1) return STORED;
      // Another request of this caller (here or on another replica) committed this key first: its decision stands.
      return { kind: 'key-taken', existing: byCallerKey.get(row[2], row[6]!)! };
    });
  }),
);

const writeProbe = db.transaction((): RowOutcome[][] => {
  probe.run(new Date().toISOString());
  return [];
});

parentPort!.on('message', (request: WriteRequest | 'close') => {
  if (request === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  let reply: WriteReply;
  try {
    // IMMEDIATE takes the write lock up front, so two replicas never deadlock upgrading a read lock.
    if ('review' in request) {
      reply = { seq: request.seq, reviewed: db.transaction(() => insertReview.run(...request.review).changes === 1).immediate() };
    } else {
      const outcomes = 'probe' in request ? writeProbe.immediate() : writeBatches.immediate(request.batches);
      reply = { seq: request.seq, outcomes };
    }
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    reply = {
      seq: request.seq,
      error: error instanceof Error ? error.message : String(error),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  parentPort!.postMessage(reply);
});
