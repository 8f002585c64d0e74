import Database from 'better-sqlite3';
import type pg from 'pg';
import { ensurePartitions, migrate } from './postgres-schema.js';
import { AUDIT_SCHEMA_VERSION } from './sqlite-schema.js';

export interface CopyProgress {
  batches: number;
  batchesTotal: number;
  decisions: number;
  decisionsTotal: number;
}

export interface CopyReport {
  /** what the SQLite trail holds */
  source: { batches: number; decisions: number };
  /** rows this run inserted (a second run inserts none) */
  inserted: { batches: number; decisions: number; keys: number; reviews: number };
  /** decisions of the source found in the destination afterwards, each by its id: equal to source.decisions */
  present: number;
  /**
   * keys the destination already gave to another decision (it took decisions under the same partner and key before
   * the copy): the copied decision stays readable by its id, and the key keeps answering the destination's decision
   */
  keyConflicts: number;
}

interface BatchRow {
  rowid: number;
  batch_id: string;
  caller: string | null;
  received_at: string;
  decided_at: string;
  latency_ms: number;
  model_version: string;
  model_sha256: string;
  policy_version: string;
  descriptions: string;
  body: string;
}

interface IndexRow {
  batch_id: string;
  position: number;
  caller: string | null;
  outcome: string;
  decided_at: string;
  application_ref: string | null;
  idempotency_key: string | null;
  input_hash: string | null;
  model_version: string | null;
}

interface ReviewRow {
  batch_id: string;
  position: number;
  decided_at: string;
  outcome: string;
  reason_codes: string;
  note: string | null;
  reviewer: string;
  reviewed_at: string;
}

const BATCH_COLUMNS = ['batch_id', 'caller', 'received_at', 'decided_at', 'latency_ms', 'model_version', 'model_sha256', 'policy_version', 'descriptions', 'body'] as const;
const BATCH_TYPES = ['text', 'text', 'timestamptz', 'timestamptz', 'float8', 'text', 'text', 'text', 'json', 'json'];
const INDEX_COLUMNS = ['batch_id', 'position', 'caller', 'outcome', 'decided_at', 'application_ref', 'idempotency_key', 'input_hash', 'model_version'] as const;
const INDEX_TYPES = ['text', 'int', 'text', 'text', 'timestamptz', 'text', 'text', 'text', 'text'];
const REVIEW_COLUMNS = ['batch_id', 'position', 'decided_at', 'outcome', 'reason_codes', 'note', 'reviewer', 'reviewed_at'] as const;
const REVIEW_TYPES = ['text', 'int', 'timestamptz', 'text', 'json', 'text', 'text', 'timestamptz'];

/** INSERT … SELECT FROM unnest($1::type[], …) ON CONFLICT DO NOTHING: one statement for a whole chunk's rows. */
function insertUnnest(table: string, columns: readonly string[], types: string[], returning = ''): string {
  const arrays = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  return `INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${arrays}) ON CONFLICT DO NOTHING ${returning}`;
}

function columnsOf<T>(rows: T[], names: readonly (keyof T)[]): unknown[][] {
  return names.map((name) => rows.map((row) => row[name]));
}

/**
 * Copies a SQLite audit trail into PostgreSQL, a chunk of batches per transaction, every row inserted only if absent:
 * a second run inserts nothing, and a run stopped half-way is resumed by running it again. Decision ids, inputs,
 * reasons and keys are kept as they are, so every decision answered from the SQLite trail reads the same afterwards.
 */
export async function copySqliteToPostgres(
  file: string,
  pool: pg.Pool,
  options: { chunkBatches?: number; onProgress?: (p: CopyProgress) => void } = {},
): Promise<CopyReport> {
  const chunk = options.chunkBatches ?? 500;
  const source = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const version = source.pragma('user_version', { simple: true }) as number;
    if (version !== AUDIT_SCHEMA_VERSION) {
      throw new Error(`${file} has audit schema version ${version}, not ${AUDIT_SCHEMA_VERSION}: start this release on it once (it migrates the file), then copy`);
    }
    const totals = source
      .prepare('SELECT (SELECT count(*) FROM decision_batches) AS batches, count(*) AS decisions, min(decided_at) AS first, max(decided_at) AS last FROM decisions')
      .get() as { batches: number; decisions: number; first: string | null; last: string | null };
    await migrate(pool);
    if (totals.first && totals.last) await ensurePartitions(pool, new Date(totals.first), new Date(totals.last));

    const nextBatches = source.prepare<[number, number], BatchRow>('SELECT rowid, * FROM decision_batches WHERE rowid > ? ORDER BY rowid LIMIT ?');
    const indexOf = source.prepare<[string], IndexRow>(
      'SELECT * FROM decisions WHERE batch_id IN (SELECT value FROM json_each(?)) ORDER BY batch_id, position',
    );
    const reviewsOf = source.prepare<[string], ReviewRow>(
      `SELECT r.batch_id, r.position, d.decided_at, r.outcome, r.reason_codes, r.note, r.reviewer, r.reviewed_at
       FROM reviews r JOIN decisions d ON d.batch_id = r.batch_id AND d.position = r.position
       WHERE r.batch_id IN (SELECT value FROM json_each(?))`,
    );
    const insertReviews = insertUnnest('reviews', REVIEW_COLUMNS, REVIEW_TYPES, 'RETURNING 1');
    const insertBatches = insertUnnest('decision_batches', BATCH_COLUMNS, BATCH_TYPES, 'RETURNING 1');
    const insertIndex = insertUnnest('decisions', INDEX_COLUMNS, INDEX_TYPES, 'RETURNING 1');
    const insertKeys = `INSERT INTO idempotency_keys (caller, idempotency_key, batch_id, position, decided_at, input_hash)
      SELECT coalesce(c, ''), k, b, p, d, h FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[])
        AS t(c, k, b, p, d, h)
      ON CONFLICT DO NOTHING RETURNING 1`;
    const sameKey = `SELECT count(*) AS n FROM idempotency_keys k
      JOIN unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS t(c, key, b, p)
        ON k.caller = coalesce(t.c, '') AND k.idempotency_key = t.key AND k.batch_id = t.b AND k.position = t.p`;

    const report: CopyReport = {
      source: { batches: totals.batches, decisions: totals.decisions },
      inserted: { batches: 0, decisions: 0, keys: 0, reviews: 0 },
      present: 0,
      keyConflicts: 0,
    };
    const progress: CopyProgress = { batches: 0, batchesTotal: totals.batches, decisions: 0, decisionsTotal: totals.decisions };
    for (let after = 0; ; ) {
      const batches = nextBatches.all(after, chunk);
      if (batches.length === 0) break;
      after = batches[batches.length - 1].rowid;
      const index = indexOf.all(JSON.stringify(batches.map((b) => b.batch_id)));
      const keyed = index.filter((row) => row.idempotency_key !== null);
      const reviews = reviewsOf.all(JSON.stringify(batches.map((b) => b.batch_id)));
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        report.inserted.batches += (await client.query(insertBatches, columnsOf(batches, BATCH_COLUMNS))).rowCount ?? 0;
        report.inserted.decisions += (await client.query(insertIndex, columnsOf(index, INDEX_COLUMNS))).rowCount ?? 0;
        if (keyed.length > 0) {
          report.inserted.keys += (
            await client.query(insertKeys, columnsOf(keyed, ['caller', 'idempotency_key', 'batch_id', 'position', 'decided_at', 'input_hash']))
          ).rowCount ?? 0;
          const { rows } = await client.query<{ n: string }>(sameKey, columnsOf(keyed, ['caller', 'idempotency_key', 'batch_id', 'position']));
          report.keyConflicts += keyed.length - Number(rows[0].n);
        }
        if (reviews.length > 0) report.inserted.reviews += (await client.query(insertReviews, columnsOf(reviews, REVIEW_COLUMNS))).rowCount ?? 0;
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
      progress.batches += batches.length;
      progress.decisions += index.length;
      options.onProgress?.({ ...progress });
    }

    // every decision of the source, looked up by its id (batch and position) in the destination
    for (let after = 0; ; ) {
      const batches = nextBatches.all(after, chunk);
      if (batches.length === 0) break;
      after = batches[batches.length - 1].rowid;
      const index = indexOf.all(JSON.stringify(batches.map((b) => b.batch_id)));
      const { rows } = await pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM decisions d JOIN unnest($1::text[], $2::int[]) AS t(b, p) ON d.batch_id = t.b AND d.position = t.p',
        columnsOf(index, ['batch_id', 'position']),
      );
      report.present += Number(rows[0].n);
    }
    return report;
  } finally {
    source.close();
  }
}
