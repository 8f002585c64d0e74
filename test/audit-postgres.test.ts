/**
 * Issue 12: what only the PostgreSQL trail does, on a real server started by the test: versioned migrations applied
 * once under an advisory lock however many replicas start together, monthly partitions (made ahead, and on demand
 * for a month without one), retention that drops whole months, `npm run audit:migrate` / `audit:retention` /
 * `audit:copy` as an operator runs them (resumable, idempotent, counts that match), and a database that cannot be
 * reached at start-up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMonths, migrate, migrationFiles, monthStart, partitionName, PARTITION_MONTHS_AHEAD } from '../src/decisions/audit/postgres-schema.js';
import { PostgresAuditStore } from '../src/decisions/audit/postgres-store.js';
import { SqliteAuditStore } from '../src/decisions/audit/sqlite-store.js';
import { auditBatch } from './helpers/audit.js';
import { POSTGRES_PASSWORD, startPostgres, type PostgresServer } from './helpers/postgres.js';
import { freePort, ROOT } from './helpers/process.js';

let postgres: PostgresServer;
const folders: string[] = [];
const closers: Array<() => Promise<unknown>> = [];
let databases = 0;

beforeAll(async () => {
  postgres = await startPostgres();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await postgres?.destroy();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** A pool of the test's own; the server's goodbye to its idle connections at the end is not a failure. */
function testPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  closers.push(() => pool.end());
  return pool;
}

async function newDatabase(): Promise<{ url: string; pool: pg.Pool }> {
  const url = await postgres.createDatabase(`pg_${++databases}`);
  return { url, pool: testPool(url, 4) };
}

async function openStore(url: string): Promise<PostgresAuditStore> {
  const store = new PostgresAuditStore(url, { poolSize: 4, timeoutMs: 5_000 });
  closers.push(() => store.close());
  await store.open();
  return store;
}

async function partitions(pool: pg.Pool, table: string): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = $1 ORDER BY 1`,
    [table],
  );
  return rows.map((r) => r.name);
}

/** Runs `npm run audit:<command>` as an operator would (tsx src/audit-cli.ts), in its own process. */
function auditCli(args: string[], env: Record<string, string>, onLine?: (line: string, kill: () => void) => void) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/audit-cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d;
      if (onLine) for (const line of String(d).split('\n').filter(Boolean)) onLine(line, () => child.kill('SIGKILL'));
    });
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('exit', (code, signal) => resolve({ code, signal, output }));
  });
}

describe('migrations', () => {
  it('ten replicas starting together migrate once, and the coming months get their partitions', async () => {
    const { url, pool } = await newDatabase();
    const pools = Array.from({ length: 10 }, () => testPool(url, 1));
    const reports = await Promise.all(pools.map((p) => migrate(p)));
    const files = migrationFiles().map((m) => m.name);
    expect(files.length).toBeGreaterThan(0);
    // exactly one of the ten applied each file; the others found it done
    expect(reports.flatMap((r) => r.applied).sort()).toEqual(files);
    expect(reports.filter((r) => r.applied.length > 0)).toHaveLength(1);
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM audit_schema_migrations ORDER BY version');
    expect(rows.map((r) => r.name)).toEqual(files);
    const now = monthStart(new Date());
    const months = Array.from({ length: PARTITION_MONTHS_AHEAD + 1 }, (_, n) => addMonths(now, n));
    expect(await partitions(pool, 'decisions')).toEqual(months.map((m) => partitionName('decisions', m)));
    expect(await partitions(pool, 'decision_batches')).toEqual(months.map((m) => partitionName('decision_batches', m)));
  });

  it('npm run audit:migrate applies the files without a server, once, and never prints the password', async () => {
    const { url } = await newDatabase();
    const first = await auditCli(['migrate'], { AUDIT_DATABASE_URL: url });
    expect(first.code).toBe(0);
    expect(first.output).toContain(`applied ${migrationFiles().map((m) => m.name).join(', ')}`);
    expect(first.output).toContain(`127.0.0.1:${postgres.port}/pg_${databases}`);
    const second = await auditCli(['migrate'], { AUDIT_DATABASE_URL: url });
    expect(second.code).toBe(0);
    expect(second.output).toContain('nothing to apply');
    expect(first.output + second.output).not.toContain(POSTGRES_PASSWORD);
  });

  it('a database that cannot be reached stops the start with one clear message, without the password', async () => {
    const port = await freePort();
    const store = new PostgresAuditStore(`postgres://loans:${POSTGRES_PASSWORD}@127.0.0.1:${port}/loans`, { poolSize: 2, timeoutMs: 2_000 });
    closers.push(() => store.close());
    const refused = await store.open().then(() => undefined, (e: Error) => e);
    expect(refused?.message).toMatch(new RegExp(`^the audit database at 127\\.0\\.0\\.1:${port}/loans cannot be used: .*ECONNREFUSED`));
    expect(refused?.message).not.toContain(POSTGRES_PASSWORD);
    expect(store.writable).toBe(false);
  });
});

describe('months', () => {
  it('records a decision of a month that has no partition yet, by creating it', async () => {
    const { url, pool } = await newDatabase();
    const store = await openStore(url);
    const old = auditBatch({ size: 3, decidedAt: new Date('2019-03-15T10:00:00.000Z') });
    expect(await store.recordBatch(old)).toEqual(Array(3).fill({ kind: 'stored' }));
    expect((await store.getDecision(old.decisions[2].id))!.decision).toEqual(old.decisions[2]);
    expect(await partitions(pool, 'decisions')).toContain('decisions_2019_03');
  });

  it('retention drops whole months older than AUDIT_RETENTION_MONTHS, with their keys, and keeps the rest', async () => {
    const { url, pool } = await newDatabase();
    const store = await openStore(url);
    const now = monthStart(new Date());
    const mid = (month: Date) => new Date(month.getTime() + 14 * 86_400_000);
    const at = (monthsAgo: number) => auditBatch({ caller: 'acme', keys: [`k-${monthsAgo}`], decidedAt: mid(addMonths(now, -monthsAgo)) });
    const batches = new Map([30, 26, 25, 24, 1, 0].map((ago) => [ago, at(ago)]));
    for (const batch of batches.values()) expect(await store.recordBatch(batch)).toEqual([{ kind: 'stored' }]);

    const run = await auditCli(['retention'], { AUDIT_DATABASE_URL: url, AUDIT_RETENTION_MONTHS: '25' });
    expect(run.code, run.output).toBe(0);
    const keptFrom = addMonths(now, -25);
    expect(run.output).toContain(`kept from ${keptFrom.toISOString().slice(0, 7)}`);
    expect(run.output).toContain('deleted 2 idempotency keys');
    for (const [ago, batch] of batches) {
      const found = await store.getDecision(batch.decisions[0].id);
      expect(found?.decision, `${ago} months ago`).toEqual(ago > 25 ? undefined : batch.decisions[0]);
    }
    const left = await partitions(pool, 'decisions');
    expect(left).not.toContain(partitionName('decisions', addMonths(now, -26)));
    expect(left).toContain(partitionName('decisions', keptFrom));
    // an expired decision's key is free again; a kept one still replays
    expect(await store.recordBatch(auditBatch({ caller: 'acme', keys: ['k-30'] }))).toEqual([{ kind: 'stored' }]);
    expect(await store.recordBatch(auditBatch({ caller: 'acme', keys: ['k-25'] }))).toEqual([
      { kind: 'replayed', decision: batches.get(25)!.decisions[0] },
    ]);
    // retention refuses to guess
    const unset = await auditCli(['retention'], { AUDIT_DATABASE_URL: url });
    expect(unset.code).toBe(2);
    expect(unset.output).toContain('AUDIT_RETENTION_MONTHS');
  });
});

describe('reviews', () => {
  it('are append-only: the database refuses to update one', async () => {
    const { url, pool } = await newDatabase();
    const store = await openStore(url);
    const batch = auditBatch({ size: 1 });
    await store.recordBatch(batch);
    const review = { outcome: 'APPROVE' as const, reasonCodes: [], note: null, reviewer: 'officer-1', reviewedAt: new Date() };
    expect(await store.recordReview(batch.decisions[0].id, review)).toBe('stored');
    await expect(pool.query(`UPDATE reviews SET outcome = 'DECLINE'`)).rejects.toThrow('reviews are append-only');
    expect((await store.getDecision(batch.decisions[0].id))!.decision.review?.outcome).toBe('APPROVE');
  });
});

describe('npm run audit:copy', () => {
  it('copies a SQLite trail whole, resumes after being killed, and a second run doubles nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'loan-api-copy-'));
    folders.push(dir);
    const file = path.join(dir, 'decisions.db');
    const sqlite = new SqliteAuditStore(file, 'normal');
    closers.push(() => sqlite.close());
    const written: ReturnType<typeof auditBatch>[] = [];
    for (let n = 0; n < 120; n++) {
      const keys = n % 3 === 0 ? [`order-${n}`, null, `order-${n}-b`] : [null, null];
      written.push(auditBatch({ caller: n % 2 ? 'acme' : null, keys, decidedAt: n < 10 ? new Date('2025-02-03T04:05:06.789Z') : undefined }));
    }
    written.push(auditBatch({ size: 1000, caller: 'globex' }));
    for (const batch of written) await sqlite.recordBatch(batch);
    const total = await sqlite.count();
    expect(total).toBe(written.reduce((sum, b) => sum + b.items.length, 0));

    const { url, pool } = await newDatabase();
    const destination = await openStore(url);
    // the destination already gave one of the copied keys to a decision of its own
    const own = auditBatch({ caller: 'acme', keys: ['order-3'], hashes: ['a different application'] });
    await destination.recordBatch(own);

    // killed after its first chunk has committed
    const killed = await auditCli(['copy', '--from', file, '--chunk', '10'], { AUDIT_DATABASE_URL: url }, (line, kill) => {
      if (line.startsWith('copied 10/')) kill();
    });
    expect(killed.signal).toBe('SIGKILL');
    const partial = await destination.count();
    expect(partial).toBeGreaterThan(1);
    expect(partial).toBeLessThan(total + 1);

    const resumed = await auditCli(['copy', '--from', file, '--to', url, '--chunk', '10'], {});
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toContain(`source ${file}: ${total} decisions in ${written.length} batches`);
    expect(resumed.output).toContain(`inserted ${total - (partial - 1)} decisions`);
    expect(resumed.output).toContain(`verified: ${total} of ${total} decisions of the source are in the destination`);
    expect(resumed.output).toContain('1 idempotency keys were already taken');

    const again = await auditCli(['copy', '--from', file, '--to', url], {});
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain('inserted 0 decisions in 0 batches, 0 idempotency keys, 0 reviews');
    expect(again.output).toContain(`verified: ${total} of ${total}`);
    expect(resumed.output + again.output).not.toContain(POSTGRES_PASSWORD);
    expect(await destination.count()).toBe(total + 1);
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM decision_batches');
    expect(Number(rows[0].n)).toBe(written.length + 1);

    // every decision reads the same from both trails, keys included
    for (const batch of written) {
      for (const decision of batch.decisions) {
        expect(await destination.getDecision(decision.id)).toEqual(await sqlite.getDecision(decision.id));
      }
    }
    expect((await destination.findByKeys('acme', ['order-9'])).get('order-9')?.decision).toEqual(written[9].decisions[0]);
    // the destination's own decision keeps its key; the copied one is still readable by its id
    expect((await destination.findByKeys('acme', ['order-3'])).get('order-3')?.decision).toEqual(own.decisions[0]);
    expect((await destination.getDecision(written[3].decisions[0].id))?.decision).toEqual(written[3].decisions[0]);
  });
});
