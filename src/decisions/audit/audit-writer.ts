/**
 * The audit trail's writer thread. SQLite's inserts and fsyncs are synchronous: here they run beside the event loop
 * instead of blocking it. Each message is one batch of rows, written in one transaction; the reply says, per row,
 * whether it was stored or whether its caller's idempotency key was already taken (and by which decision). A failed
 * transaction's reply carries SQLite's error code (SQLITE_FULL, SQLITE_BUSY, …) so the store can tell a file that
 * cannot be written from an unexpected failure. A probe is a one-row transaction that tells whether writes work again.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BY_CALLER_KEY_SQL, INSERT_SQL, PROBE_SQL, openAuditDatabase, type AuditSync, type DecisionRow, type RowValues } from './database.js';

export type WriteRequest = { seq: number; rows: RowValues[] } | { seq: number; probe: true };

export type RowOutcome = { kind: 'stored' } | { kind: 'key-taken'; existing: DecisionRow };

export type WriteReply =
  | { seq: number; outcomes: RowOutcome[] }
  | { seq: number; error: string; /** better-sqlite3's SqliteError code, e.g. SQLITE_FULL */ code?: string };

const { file, sync, busyTimeoutMs } = workerData as { file: string; sync: AuditSync; busyTimeoutMs: number };
const db = openAuditDatabase(file, sync, busyTimeoutMs);
const insert = db.prepare<RowValues>(INSERT_SQL);
const byCallerKey = db.prepare<[string | null, string], DecisionRow>(BY_CALLER_KEY_SQL);
const probe = db.prepare<[string]>(PROBE_SQL);

const writeBatch = db.transaction((rows: RowValues[]): RowOutcome[] =>
  rows.map((row) => {
    if (insert.run(...row).changes === 1) return { kind: 'stored' };
    // Another request of this caller (here or on another replica) committed this key first: its decision stands.
    return { kind: 'key-taken', existing: byCallerKey.get(row[17], row[2]!)! };
  }),
);

const writeProbe = db.transaction((): RowOutcome[] => {
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
    const outcomes = 'probe' in request ? writeProbe.immediate() : writeBatch.immediate(request.rows);
    reply = { seq: request.seq, outcomes };
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
