/**
 * Issue 10: a store that cannot write says so. When SQLite cannot write the audit file (a full volume, a read-only
 * file system, a lock held past the busy timeout) a decision is refused with a retryable 503 SERVICE_UNAVAILABLE
 * (`retry-after`), never a masked 500, and `/ready` answers 503 until a probe write commits again, which happens
 * without client traffic. Nothing answered is lost.
 *
 * The full and read-only volumes are real file systems mounted by this test (a tmpfs; an ext4 image on a loop
 * device), so it needs root or CAP_SYS_ADMIN: without it those cases fail, saying so. Everything mounted is unmounted
 * and every server process is stopped by pid in afterAll, whatever happened.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { decisionId, parseDecisionId } from '../src/decisions/audit/records.js';
import { AuditUnavailableError, type AuditBatch } from '../src/decisions/audit/audit-store.js';
import { isUnavailableCode, SqliteAuditStore } from '../src/decisions/audit/sqlite-store.js';
import { applications } from './helpers/applications.js';
import { startServerProcess, type ServerProcess } from './helpers/process.js';

const scratch: string[] = [];
const mounts: string[] = [];
const servers: ServerProcess[] = [];
const stores: SqliteAuditStore[] = [];

afterAll(async () => {
  for (const store of stores) await store.close().catch(() => undefined);
  for (const server of servers) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  }
  for (const dir of mounts.reverse()) {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
    } catch (error) {
      console.error(`could not unmount ${dir}: ${(error as { stderr?: Buffer }).stderr ?? error}`);
    }
  }
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/** Runs mount(8); without the privilege to, fails the test with the reason rather than passing quietly. */
function mount(args: string[], dir: string): void {
  try {
    execFileSync('mount', [...args, dir], { stdio: 'pipe' });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    throw new Error(
      `this test mounts a file system to fill it or make it read-only, and needs root or CAP_SYS_ADMIN ` +
        `(uid ${process.getuid?.()}): mount ${[...args, dir].join(' ')} failed: ${stderr}`,
    );
  }
  mounts.push(dir);
}

// ---------------------------------------------------------------------------------------------------------------
// The store itself

let recordSeq = 0;
/** A batch of one decision, its id unique per process (a second record of it fails on the primary key). */
function auditRecord(batchId = `unit-${process.pid}-${++recordSeq}`): AuditBatch & { decision: { id: string } } {
  const decision = {
    id: decisionId(batchId, 0),
    applicationRef: null,
    outcome: 'APPROVE' as const,
    probabilityOfDefault: 0.05,
    score: 780,
    reasons: [],
    policyHits: [],
    policyVersion: 'test',
    modelVersion: 'test',
    decidedAt: new Date(),
  };
  return {
    batchId,
    caller: null,
    receivedAt: new Date(),
    decidedAt: decision.decidedAt,
    latencyMs: 1,
    policyVersion: 'test',
    items: [{ decision, input: {}, idempotencyKey: null, inputHash: null, modelSha256: 'test' }],
    decision,
  };
}

describe('AuditStore when SQLite cannot write its file', () => {
  it('classifies full, read-only, busy, locked, I/O and cannot-open codes as unavailable, and nothing else', () => {
    for (const code of ['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT',
      'SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE', 'SQLITE_IOERR', 'SQLITE_IOERR_WRITE', 'SQLITE_CANTOPEN']) {
      expect(isUnavailableCode(code), code).toBe(true);
    }
    for (const code of [undefined, 'SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CORRUPT', 'SQLITE_ERROR', 'SQLITE_MISUSE',
      'SQLITE_FULLX', 'ENOSPC']) {
      expect(isUnavailableCode(code), String(code)).toBe(false);
    }
  });

  it('refuses writes while the file is locked, and recovers by its own probe once the lock is released', async () => {
    const file = path.join(tempDir('loan-api-audit-lock-unit-'), 'decisions.db');
    const failures: string[] = [];
    const changes: (string | undefined)[] = [];
    const store = new SqliteAuditStore(file, 'normal', {
      busyTimeoutMs: 50,
      onWriteFailure: (code) => failures.push(code),
      onAvailabilityChange: (unavailable) => changes.push(unavailable?.code),
    });
    stores.push(store);
    await expect(store.recordBatch(auditRecord())).resolves.toEqual([{ kind: 'stored' }]);

    const other = new Database(file);
    other.exec('BEGIN EXCLUSIVE');
    const locked = auditRecord();
    const refused = await store.recordBatch(locked).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AuditUnavailableError);
    expect((refused as AuditUnavailableError).code).toMatch(/^SQLITE_BUSY/);
    expect(store.writable).toBe(false);
    expect(changes).toEqual([(refused as AuditUnavailableError).code]);
    // refused at once while unavailable: no second failed write, the probe alone retries
    await expect(store.recordBatch(auditRecord())).rejects.toBeInstanceOf(AuditUnavailableError);
    expect(failures.filter((c) => c === 'SQLITE_BUSY').length).toBeGreaterThanOrEqual(1);

    other.exec('COMMIT');
    other.close();
    await expect.poll(() => store.writable, { timeout: 15_000, interval: 50 }).toBe(true);
    expect(changes).toEqual([(refused as AuditUnavailableError).code, undefined]);
    await expect(store.recordBatch(auditRecord())).resolves.toEqual([{ kind: 'stored' }]);
    expect(await store.getDecision(locked.decision.id)).toBeUndefined();
    expect(await store.count()).toBe(2);
  });

  it('keeps an unexpected failure masked (a plain Error) and stays writable', async () => {
    const store = new SqliteAuditStore(path.join(tempDir('loan-api-audit-unexpected-'), 'decisions.db'), 'normal');
    stores.push(store);
    const record = auditRecord();
    await store.recordBatch(record);
    const duplicate = await store.recordBatch(record).catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(Error);
    expect(duplicate).not.toBeInstanceOf(AuditUnavailableError);
    expect(String(duplicate)).toMatch(/UNIQUE constraint failed/);
    expect(store.writable).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A real server process

const BULK = `mutation($inputs: [LoanApplicationInput!]!) {
  scoreApplications(inputs: $inputs) { __typename ... on Decision { id } }
}`;

interface Answer {
  status: number;
  retryAfter: string | null;
  codes: string[];
  ids: string[];
}

async function bulk(server: ServerProcess, count: number): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: BULK, variables: { inputs: applications(count) } }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await response.json()) as {
    data?: { scoreApplications: { id?: string }[] | null } | null;
    errors?: { extensions?: { code?: string } }[];
  };
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    codes: (body.errors ?? []).map((e) => e.extensions?.code ?? 'NONE'),
    ids: (body.data?.scoreApplications ?? []).flatMap((d) => (d.id ? [d.id] : [])),
  };
}

/** Every refusal a 503 SERVICE_UNAVAILABLE with retry-after; every success a full set of decisions. */
function expectRetryableOrAnswered(answers: Answer[], count: number): void {
  for (const a of answers) {
    if (a.status === 200) {
      expect(a.codes).toEqual([]);
      expect(a.ids).toHaveLength(count);
    } else {
      expect({ status: a.status, codes: a.codes }).toEqual({ status: 503, codes: ['SERVICE_UNAVAILABLE'] });
      expect(Number(a.retryAfter)).toBeGreaterThan(0);
    }
  }
}

const readyStatus = async (server: ServerProcess) => (await fetch(`${server.url}/ready`)).status;

async function metricValue(server: ServerProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${server.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Every id is answered by decision(id) and is a row in the file. */
async function expectAllRecorded(server: ServerProcess, file: string, ids: string[]): Promise<void> {
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += 20) {
    const chunk = ids.slice(i, i + 20);
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // an HTTP batch of up to 20 operations (HTTP_BATCH_LIMIT)
      body: JSON.stringify(chunk.map((id) => ({ query: 'query($id: ID!) { decision(id: $id) { id } }', variables: { id } }))),
    });
    const results = (await response.json()) as { data?: { decision: { id: string } | null } }[];
    chunk.forEach((id, j) => results[j]?.data?.decision?.id !== id && missing.push(id));
  }
  expect(missing).toEqual([]);
  const db = new Database(file, { readonly: true });
  try {
    const has = db.prepare<[string, number], { n: number }>('SELECT count(*) AS n FROM decisions WHERE batch_id = ? AND position = ?');
    expect(ids.filter((id) => has.get(...parseDecisionId(id))!.n !== 1)).toEqual([]);
  } finally {
    db.close();
  }
}

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServerProcess({ LOG_LEVEL: 'warn', AUDIT_SYNC: 'normal', ...env });
  servers.push(server);
  return server;
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGKILL');
  await server.exited;
}

const ITEMS = 20;

describe('a server whose audit file cannot be written', () => {
  it('full volume: 503 SERVICE_UNAVAILABLE and unready, then ready again once space is freed, without traffic', async () => {
    const dir = tempDir('loan-api-audit-full-');
    mount(['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs'], dir);
    const file = path.join(dir, 'decisions.db');
    const server = await start({ DATA_DIR: dir });
    const answered: string[] = [];
    const before = await bulk(server, ITEMS);
    expect(before.status).toBe(200);
    answered.push(...before.ids);

    // Fill the volume to its last byte.
    const filler = path.join(dir, 'filler');
    const fd = openSync(filler, 'w');
    try {
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (;;) writeSync(fd, chunk);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }

    // Writes that still fit in pages SQLite has already allocated may succeed; keep writing until one fails.
    const answers: Answer[] = [];
    for (let i = 0; i < 200 && !answers.some((a) => a.status === 503); i++) answers.push(await bulk(server, ITEMS));
    await expect.poll(() => readyStatus(server), { timeout: 20_000, interval: 100 }).toBe(503);
    // The failure case of the report: 60 bulk requests, 4 at a time.
    for (let i = 0; i < 15; i++) answers.push(...(await Promise.all([1, 2, 3, 4].map(() => bulk(server, ITEMS)))));
    const statuses = answers.map((a) => a.status);
    console.info(`full volume: ${statuses.filter((s) => s === 503).length} of ${answers.length} bulk requests 503, ` +
      `${statuses.filter((s) => s === 200).length} answered`);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(60);
    expectRetryableOrAnswered(answers, ITEMS);
    for (const a of answers) answered.push(...a.ids);
    expect(await metricValue(server, 'loan_api_audit_write_failures_total', '{code="SQLITE_FULL"}')).toBeGreaterThanOrEqual(1);
    expect(await metricValue(server, 'loan_api_audit_writable')).toBe(0);

    unlinkSync(filler);
    // no GraphQL traffic: only what an orchestrator does, asking /ready
    await expect.poll(() => readyStatus(server), { timeout: 20_000, interval: 200 }).toBe(200);
    expect(await metricValue(server, 'loan_api_audit_writable')).toBe(1);
    for (let i = 0; i < 5; i++) {
      const after = await bulk(server, ITEMS);
      expect(after.status).toBe(200);
      answered.push(...after.ids);
    }
    await expectAllRecorded(server, file, answered);
    await stop(server);
  });

  it('read-only volume: 503 SERVICE_UNAVAILABLE and unready', async () => {
    // The kernel refuses `mount -o remount,ro` (EBUSY) while a process holds a file open for writing, as SQLite
    // does. A file system goes read-only under a running writer when the kernel remounts it after an error: ext4's
    // errors=remount-ro, triggered here through sysfs. That state lasts until the volume is unmounted.
    const dir = tempDir('loan-api-audit-ro-');
    const image = path.join(tempDir('loan-api-audit-ro-image-'), 'volume.img');
    writeFileSync(image, '');
    execFileSync('truncate', ['-s', '16M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image], { stdio: 'pipe' });
    mount(['-o', 'loop,errors=remount-ro', image], dir);
    const device = path.basename(execFileSync('findmnt', ['-no', 'SOURCE', dir]).toString().trim());
    const server = await start({ DATA_DIR: dir });
    const before = await bulk(server, ITEMS);
    expect(before.status).toBe(200);

    writeFileSync(`/sys/fs/ext4/${device}/trigger_fs_error`, '1');
    expect(execFileSync('findmnt', ['-no', 'OPTIONS', dir]).toString().trim()).toMatch(/(^|,)(ro|emergency_ro)(,|$)/);
    const answers: Answer[] = [];
    for (let i = 0; i < 10; i++) answers.push(await bulk(server, ITEMS));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(503));
    expectRetryableOrAnswered(answers, ITEMS);
    await expect.poll(() => readyStatus(server), { timeout: 20_000, interval: 100 }).toBe(503);
    expect(await metricValue(server, 'loan_api_audit_writable')).toBe(0);
    // what was answered before is still read from the volume
    const decision = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'query($id: ID!) { decision(id: $id) { id } }', variables: { id: before.ids[0] } }),
    });
    expect(((await decision.json()) as { data: { decision: { id: string } } }).data.decision.id).toBe(before.ids[0]);
    await stop(server);
  });

  it('locked file: 503 after AUDIT_BUSY_TIMEOUT_MS and unready, then ready again once the lock is released', async () => {
    const dir = tempDir('loan-api-audit-locked-');
    const file = path.join(dir, 'decisions.db');
    const server = await start({ DATA_DIR: dir, AUDIT_BUSY_TIMEOUT_MS: '300' });
    const answered = (await bulk(server, ITEMS)).ids;
    expect(answered).toHaveLength(ITEMS);

    const other = new Database(file);
    try {
      other.exec('BEGIN EXCLUSIVE');
      const first = await bulk(server, ITEMS);
      expectRetryableOrAnswered([first], ITEMS);
      expect(first.status).toBe(503);
      await expect.poll(() => readyStatus(server), { timeout: 20_000, interval: 100 }).toBe(503);
      const more = await Promise.all([1, 2, 3, 4].map(() => bulk(server, ITEMS)));
      expect(more.map((a) => a.status)).toEqual([503, 503, 503, 503]);
      expectRetryableOrAnswered(more, ITEMS);
      expect(await metricValue(server, 'loan_api_audit_write_failures_total', '{code="SQLITE_BUSY"}')).toBeGreaterThanOrEqual(1);
      // the lock outlives several probes: still unready
      await expect.poll(() => metricValue(server, 'loan_api_audit_write_failures_total', '{code="SQLITE_BUSY"}'), {
        timeout: 20_000,
        interval: 200,
      }).toBeGreaterThanOrEqual(3);
      expect(await readyStatus(server)).toBe(503);
      other.exec('COMMIT');
    } finally {
      other.close();
    }
    await expect.poll(() => readyStatus(server), { timeout: 20_000, interval: 200 }).toBe(200);
    const after = await bulk(server, ITEMS);
    expect(after.status).toBe(200);
    answered.push(...after.ids);
    await expectAllRecorded(server, file, answered);
    await stop(server);
  });
});
