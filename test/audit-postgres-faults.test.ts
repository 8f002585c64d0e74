/**
 * Issue 12: a replica on PostgreSQL when the database goes away. A real server process, a real PostgreSQL server
 * restarted (fast shutdown, then start) under steady load: requests during the outage get a typed, retryable answer
 * (503 SERVICE_UNAVAILABLE with retry-after), never a 500 or a hang; /ready turns 503 while the database is
 * unreachable and 200 again without client traffic once it is back (the pool reconnects by itself); no acknowledged
 * decision is missing and each idempotency key has exactly one decision. A database unreachable at start-up stops the
 * start with one clear message. Neither says the password. Every process is stopped by pid in afterAll.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications } from './helpers/applications.js';
import { POSTGRES_PASSWORD, startPostgres, type PostgresServer } from './helpers/postgres.js';
import { freePort, startServerProcess, type ServerProcess } from './helpers/process.js';

let postgres: PostgresServer;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
});

afterAll(async () => {
  for (const server of servers) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  }
  await postgres?.destroy();
});

const SCORE = `mutation($input: LoanApplicationInput!, $key: String) {
  scoreApplication(input: $input, idempotencyKey: $key) { __typename ... on Decision { id outcome score } }
}`;

interface Answer {
  key: string;
  status: number;
  retryAfter: string | null;
  codes: string[];
  decision?: { id: string; outcome: string; score: number };
}

async function score(server: ServerProcess, key: string, n: number): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: SCORE, variables: { input: applications(n + 1)[n], key } }),
    // a bound, not a measurement: a hang fails the test here instead of at its timeout
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await response.json()) as {
    data?: { scoreApplication: Answer['decision'] | null } | null;
    errors?: { extensions?: { code?: string } }[];
  };
  return {
    key,
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    codes: (body.errors ?? []).map((e) => e.extensions?.code ?? 'NONE'),
    decision: body.data?.scoreApplication ?? undefined,
  };
}

const ready = async (server: ServerProcess) => {
  const response = await fetch(`${server.url}/ready`);
  return { status: response.status, body: await response.json() };
};

describe('a replica on PostgreSQL', () => {
  it('says which store it uses, answers 503 through a database restart under load, loses nothing, and recovers by itself', async () => {
    const url = await postgres.createDatabase('faults');
    const server = await startServerProcess({ AUDIT_DATABASE_URL: url, LOG_LEVEL: 'info', AUDIT_POOL_SIZE: '4' });
    servers.push(server);
    expect(await ready(server)).toEqual({ status: 200, body: { ready: true, auditStore: 'postgresql' } });

    // steady load: 6 clients, each a new key per request, until told to stop (bounded in count)
    const answers: Answer[] = [];
    let stop = false;
    let sent = 0;
    const clients = Array.from({ length: 6 }, async (_, c) => {
      for (let i = 0; !stop && i < 5_000; i++) {
        sent++;
        answers.push(await score(server, `c${c}-r${i}`, (c * 31 + i) % 200));
      }
    });
    const count = (status: number) => answers.filter((a) => a.status === status).length;

    await expect.poll(() => count(200), { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(50);
    await postgres.stop();
    await expect.poll(async () => (await ready(server)).status, { timeout: 20_000, interval: 100 }).toBe(503);
    expect((await ready(server)).body).toEqual({ ready: false, auditStore: 'postgresql' });
    await expect.poll(() => count(503), { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(20);
    await postgres.start();
    const answeredBefore = count(200);
    await expect.poll(async () => (await ready(server)).status, { timeout: 20_000, interval: 100 }).toBe(200);
    await expect.poll(() => count(200), { timeout: 20_000, interval: 50 }).toBeGreaterThanOrEqual(answeredBefore + 50);
    stop = true;
    await Promise.all(clients);
    expect(answers).toHaveLength(sent);

    const refused = answers.filter((a) => a.status !== 200);
    console.info(`database restart under load: ${answers.length} requests, ${count(200)} decided, ${count(503)} answered 503`);
    // every refusal typed and retryable; every success a decision
    expect([...new Set(refused.map((a) => `${a.status} ${a.codes.join(',')}`))]).toEqual(['503 SERVICE_UNAVAILABLE']);
    for (const a of refused) expect(Number(a.retryAfter)).toBeGreaterThan(0);
    const acknowledged = answers.filter((a) => a.status === 200);
    for (const a of acknowledged) expect(a.decision?.id, a.key).toBeTruthy();

    // nothing acknowledged is missing, and each key has exactly one decision: the acknowledged one
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const { rows } = await client.query<{ idempotency_key: string; id: string; n: string }>(
        `SELECT k.idempotency_key, k.batch_id || '.' || k.position AS id, count(d.batch_id) AS n FROM idempotency_keys k
           LEFT JOIN decisions d ON d.batch_id = k.batch_id AND d.position = k.position AND d.decided_at = k.decided_at
         WHERE k.idempotency_key = ANY($1::text[]) GROUP BY 1, 2`,
        [answers.map((a) => a.key)],
      );
      const byKey = new Map(rows.map((r) => [r.idempotency_key, r]));
      const missing = acknowledged.filter((a) => byKey.get(a.key)?.id !== a.decision!.id || byKey.get(a.key)?.n !== '1');
      expect(missing).toEqual([]);
    } finally {
      await client.end();
    }
    // a replay of an acknowledged key answers the same decision
    for (const a of acknowledged.filter((_, i) => i % 25 === 0)) {
      const n = Number(a.key.split('-r')[1]) + 31 * Number(a.key.slice(1).split('-')[0]);
      const again = await score(server, a.key, n % 200);
      expect(again.decision, a.key).toEqual(a.decision);
    }
    expect(server.output()).not.toContain(POSTGRES_PASSWORD);
  });

  it('answers 503, not a hang, when a write would wait past AUDIT_BUSY_TIMEOUT_MS (a lock held by someone else)', async () => {
    const url = await postgres.createDatabase('locked');
    const server = await startServerProcess({ AUDIT_DATABASE_URL: url, AUDIT_BUSY_TIMEOUT_MS: '1000', AUDIT_POOL_SIZE: '2' });
    servers.push(server);
    expect((await score(server, 'before-lock', 1)).status).toBe(200);
    const holder = new pg.Client({ connectionString: url });
    holder.on('error', () => undefined);
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE decisions IN ACCESS EXCLUSIVE MODE');
      const blocked = await score(server, 'while-locked', 2);
      expect({ status: blocked.status, codes: blocked.codes }).toEqual({ status: 503, codes: ['SERVICE_UNAVAILABLE'] });
      expect(Number(blocked.retryAfter)).toBeGreaterThan(0);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    // the probe write commits once the lock is gone, and the same key is decided
    await expect.poll(async () => (await ready(server)).status, { timeout: 20_000, interval: 100 }).toBe(200);
    const after = await score(server, 'while-locked', 2);
    expect(after.status).toBe(200);
    expect(after.decision?.id).toBeTruthy();
  });

  it('does not start when the database cannot be reached: one clear message, no password', async () => {
    const port = await freePort();
    const url = `postgres://loans:${POSTGRES_PASSWORD}@127.0.0.1:${port}/loans`;
    const failed = await startServerProcess({ AUDIT_DATABASE_URL: url, AUDIT_BUSY_TIMEOUT_MS: '2000' }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(failed).toMatch(/^server exited with 1:/);
    expect(failed).toContain(`the audit database at 127.0.0.1:${port}/loans cannot be used`);
    expect(failed).toContain('audit trail could not be opened');
    expect(failed).not.toContain(POSTGRES_PASSWORD);
  });

  it('refuses a malformed database URL without repeating it', async () => {
    const failed = await startServerProcess({ AUDIT_DATABASE_URL: `mysql://loans:${POSTGRES_PASSWORD}@db/loans` }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(failed).toContain('AUDIT_DATABASE_URL: must be a URL like postgres://');
    expect(failed).not.toContain(POSTGRES_PASSWORD);
  });
});
