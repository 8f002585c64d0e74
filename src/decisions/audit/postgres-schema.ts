import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/**
 * The versioned SQL files under migrations/postgres (NNNN_name.sql), applied in order, each once, each in its own
 * transaction. Every replica applies them at start-up (and `npm run audit:migrate` without a server), under one
 * advisory lock: replicas starting together wait for each other, the first migrates and the rest find it done.
 */
const MIGRATION_FILE = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** pg_advisory_lock's key for schema changes (migrations, partitions, retention): any constant of this service's own */
const SCHEMA_LOCK = 4_127_031_559;

/** Monthly partitions exist from the current month to this many months ahead (re-checked every few hours). */
export const PARTITION_MONTHS_AHEAD = 3;

const PARTITIONED_TABLES = ['decision_batches', 'decisions', 'reviews'] as const;

function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the project folder (package.json) above the audit store');
    dir = up;
  }
  return dir;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function migrationFiles(dir = path.join(projectRoot(), 'migrations', 'postgres')): Migration[] {
  return readdirSync(dir)
    .filter((f) => MIGRATION_FILE.test(f))
    .sort()
    .map((name) => ({ version: Number(MIGRATION_FILE.exec(name)![1]), name, sql: readFileSync(path.join(dir, name), 'utf8') }));
}

async function underSchemaLock<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK]);
    try {
      return await work(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]);
    }
  } finally {
    client.release();
  }
}

export interface MigrationReport {
  /** the migrations this call applied (none when another replica did, or they were applied before) */
  applied: string[];
  /** the newest version in the database afterwards */
  version: number;
}

/** Applies the migrations not yet applied, then makes sure the months around `now` have their partitions. */
export async function migrate(pool: pg.Pool, now = new Date(), migrations = migrationFiles()): Promise<MigrationReport> {
  return underSchemaLock(pool, async (client) => {
    await client.query(`CREATE TABLE IF NOT EXISTS audit_schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM audit_schema_migrations')).rows.map((r) => r.version),
    );
    const newest = Math.max(0, ...done);
    const known = Math.max(0, ...migrations.map((m) => m.version));
    if (newest > known) throw new Error(`the audit database has schema version ${newest}; this release knows up to ${known}`);
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO audit_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(m.name);
    }
    await createPartitions(client, now, addMonths(monthStart(now), PARTITION_MONTHS_AHEAD));
    return { applied, version: Math.max(newest, known) };
  });
}

export function monthStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

export function addMonths(month: Date, n: number): Date {
  return new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + n, 1));
}

/** decisions_2026_12 and the like: the month a partition holds, in its name */
export function partitionName(table: string, month: Date): string {
  return `${table}_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Creates the monthly partitions of both tables from `from`'s month to `to`'s, those missing (idempotent). */
async function createPartitions(client: pg.ClientBase, from: Date, to: Date): Promise<void> {
  // the tables the applied migrations have made (a database being migrated has not all of them yet)
  const { rows } = await client.query<{ name: string }>(
    `SELECT relname AS name FROM pg_class WHERE relkind = 'p' AND relname = ANY($1::text[])`,
    [PARTITIONED_TABLES],
  );
  const tables = rows.map((r) => r.name);
  for (let month = monthStart(from); month <= to; month = addMonths(month, 1)) {
    const next = addMonths(month, 1);
    for (const table of tables) {
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${partitionName(table, month)} PARTITION OF ${table}
           FOR VALUES FROM ('${month.toISOString()}') TO ('${next.toISOString()}')`,
      );
    }
  }
}

/** Makes sure every month from `from` to `to` has its partitions (a copy of an old trail; a month just begun). */
export function ensurePartitions(pool: pg.Pool, from: Date, to: Date): Promise<void> {
  return underSchemaLock(pool, (client) => createPartitions(client, from, to));
}

export interface RetentionReport {
  /** the first month kept */
  keptFrom: Date;
  droppedPartitions: string[];
  deletedKeys: number;
}

/**
 * Drops the monthly partitions older than `months` whole months before the current one (DROP TABLE: no row-by-row
 * delete, no bloat), and the idempotency keys of the decisions they held.
 */
export async function dropExpiredMonths(pool: pg.Pool, months: number, now = new Date()): Promise<RetentionReport> {
  const keptFrom = addMonths(monthStart(now), -months);
  return underSchemaLock(pool, async (client) => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
       WHERE p.relname = ANY($1::text[])`,
      [PARTITIONED_TABLES],
    );
    const expired = rows
      .map((r) => r.name)
      .filter((name) => {
        const m = /_(\d{4})_(\d{2})$/.exec(name);
        return m !== null && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)) < keptFrom;
      })
      .sort();
    await client.query('BEGIN');
    try {
      const deleted = await client.query('DELETE FROM idempotency_keys WHERE decided_at < $1', [keptFrom]);
      for (const name of expired) await client.query(`DROP TABLE ${name}`);
      await client.query('COMMIT');
      return { keptFrom, droppedPartitions: expired, deletedKeys: deleted.rowCount ?? 0 };
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
  });
}
