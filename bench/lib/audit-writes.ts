/**
 * The audit trail's write cost at the store itself (in the bench process, no HTTP, no GraphQL): how long one
 * recordBatch takes to commit, how many decisions one store commits a second with many batches in flight, and, for
 * PostgreSQL, the server's CPU and WAL per decision and the table space a million decisions take. The decisions are
 * real ones (the committed model and policy on the bench's bulk applications), recorded as the service records them.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import type { AuditBatch, AuditItem, AuditStore } from '../../src/decisions/audit/audit-store.js';
import { decisionId } from '../../src/decisions/audit/records.js';
import { decisionFrom, inputHash } from '../../src/decisions/decision.js';
import { loadPolicy } from '../../src/decisions/policy.js';
import type { LoanApplication } from '../../src/model/application.js';
import { ScoringModel } from '../../src/model/scoring-model.js';
import { applications } from '../../test/helpers/applications.js';
import { median } from '../model.js';
import { percentile } from './load.js';
import { watchCpu } from './proc.js';

/** `count` decisions of the bench's bulk applications, each with the input as received and its model's sha256. */
export async function realItems(root: string, count: number): Promise<AuditItem[]> {
  const inputs = applications(count);
  const model = await ScoringModel.create(path.join(root, 'models/loan-default-lr-1.0.0'));
  try {
    const policy = { ...loadPolicy(path.join(root, 'policy/policy.json'), path.join(root, 'policy/reason-codes.json')), thresholds: {} };
    const scored = await model.score(inputs);
    return scored.map((s, i) => ({
      decision: decisionFrom(inputs[i], s, policy, new Date()),
      input: inputs[i],
      idempotencyKey: null,
      inputHash: null,
      modelSha256: s.model.sha256,
    }));
  } finally {
    await model.release();
  }
}

let batches = 0;

/**
 * A batch of `size` of the items, starting at batch number `n`'s place in them, decided now; with `keyed`, every
 * decision carries an idempotency key of its own (and its input's hash), as a partner's keyed bulk does.
 */
export function batchOf(items: AuditItem[], size: number, keyed = false): AuditBatch {
  const n = batches++;
  const batchId = randomBytes(16).toString('base64url');
  const decidedAt = new Date();
  return {
    batchId,
    caller: null,
    receivedAt: new Date(decidedAt.getTime() - 5),
    decidedAt,
    latencyMs: 5,
    policyVersion: items[0].decision.policyVersion,
    items: Array.from({ length: size }, (_, j) => {
      const item = items[(n * size + j) % items.length];
      const key = keyed ? `bench-${n}-${j}` : null;
      return {
        ...item,
        decision: { ...item.decision, id: decisionId(batchId, j), decidedAt },
        idempotencyKey: key,
        inputHash: key && inputHash(item.input as LoanApplication),
      };
    }),
  };
}

export interface CommitLatency {
  batchSize: number;
  batches: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

/** One batch at a time, `count` times: from recordBatch to its commit. */
export async function commitLatency(store: AuditStore, items: AuditItem[], size: number, count: number): Promise<CommitLatency> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const batch = batchOf(items, size);
    const t = performance.now();
    await store.recordBatch(batch);
    ms.push(performance.now() - t);
  }
  const sorted = Float64Array.from(ms).sort();
  return { batchSize: size, batches: count, p50Ms: median(ms), p99Ms: percentile(sorted, 0.99), meanMs: ms.reduce((a, b) => a + b, 0) / ms.length };
}

export interface CommitThroughput {
  batchSize: number;
  inFlight: number;
  batches: number;
  seconds: number;
  decisionsPerSecond: number;
  /** statements (PostgreSQL) or transactions (SQLite) committed a second: batches queued together share one */
  commitsPerSecond: number;
  /** cores each group of processes kept busy meanwhile (the database server, this process) */
  cores: Record<string, number>;
  /** WAL the server wrote per decision (PostgreSQL only) */
  walBytesPerDecision?: number;
}

/**
 * `inFlight` callers each recording batch after batch, `count` batches in all, as the requests of a busy replica do;
 * `cpu` names the processes whose CPU is measured, `client` (PostgreSQL) reads the WAL position before and after.
 */
export async function commitThroughput(
  store: AuditStore,
  items: AuditItem[],
  options: { size: number; inFlight: number; count: number; keyed?: boolean; cpu: () => Record<string, number[]>; client?: pg.Client },
): Promise<CommitThroughput> {
  const wal = async () => (options.client ? (await options.client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn : '');
  const walBefore = await wal();
  const commitsBefore = store.transactions;
  const cpu = watchCpu(options.cpu);
  const t = performance.now();
  let started = 0;
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (started < options.count) {
        started++;
        await store.recordBatch(batchOf(items, options.size, options.keyed));
      }
    }),
  );
  const seconds = (performance.now() - t) / 1000;
  const cores = cpu.stop();
  let walBytesPerDecision: number | undefined;
  if (options.client) {
    const { rows } = await options.client.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS bytes', [walBefore]);
    walBytesPerDecision = Number(rows[0].bytes) / (options.count * options.size);
  }
  return {
    batchSize: options.size,
    inFlight: options.inFlight,
    batches: options.count,
    seconds,
    decisionsPerSecond: (options.count * options.size) / seconds,
    commitsPerSecond: (store.transactions - commitsBefore) / seconds,
    cores,
    walBytesPerDecision,
  };
}

/** Bytes on disk (heap, TOAST, indexes; every partition) of each table, for the difference before and after writing. */
export async function tableBytes(client: pg.Client, tables: string[]): Promise<Record<string, number>> {
  const { rows } = await client.query<{ name: string; bytes: string }>(
    `SELECT p.relname AS name,
       (pg_total_relation_size(p.oid) + coalesce(sum(pg_total_relation_size(i.inhrelid)), 0))::text AS bytes
     FROM pg_class p LEFT JOIN pg_inherits i ON i.inhparent = p.oid
     WHERE p.relname = ANY($1::text[]) AND p.relkind IN ('r', 'p')
     GROUP BY p.relname, p.oid`,
    [tables],
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.bytes)]));
}
