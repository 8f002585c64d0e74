/**
 * The audit trail's writer thread. SQLite's inserts and fsyncs are synchronous: here they run beside the event loop
 * instead of blocking it. Each message is one batch of rows, written in one transaction; the reply says, per row,
 * whether it was stored or whether its caller's idempotency key was already taken (and by which decision).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BY_CALLER_KEY_SQL, INSERT_SQL, openAuditDatabase, type AuditSync, type DecisionRow, type RowValues } from './database.js';

export interface WriteRequest {
  seq: number;
  rows: RowValues[];
}

export type RowOutcome = { kind: 'stored' } | { kind: 'key-taken'; existing: DecisionRow };

export type WriteReply = { seq: number; outcomes: RowOutcome[] } | { seq: number; error: string };

const { file, sync } = workerData as { file: string; sync: AuditSync };
const db = openAuditDatabase(file, sync);
const insert = db.prepare<RowValues>(INSERT_SQL);
const byCallerKey = db.prepare<[string | null, string], DecisionRow>(BY_CALLER_KEY_SQL);

const writeBatch = db.transaction((rows: RowValues[]): RowOutcome[] =>
  rows.map((row) => {
    if (insert.run(...row).changes === 1) return { kind: 'stored' };
    // Another request of this caller (here or on another replica) committed this key first: its decision stands.
    return { kind: 'key-taken', existing: byCallerKey.get(row[17], row[2]!)! };
  }),
);

parentPort!.on('message', (request: WriteRequest | 'close') => {
  if (request === 'close') {
    db.close();
    parentPort!.close();
    return;
  }
  let reply: WriteReply;
  try {
    // IMMEDIATE takes the write lock up front, so two replicas never deadlock upgrading a read lock.
    reply = { seq: request.seq, outcomes: writeBatch.immediate(request.rows) };
  } catch (error) {
    reply = { seq: request.seq, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
