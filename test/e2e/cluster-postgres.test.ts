/**
 * End-to-end, issue 12: `npm run cluster` (scripts/cluster.ts startCluster: nginx and three replicas of the built
 * server) with its audit trail in a real PostgreSQL server (test/helpers/postgres.ts), under steady load that sends a
 * new idempotency key with every request, through two failures, one after the other:
 *   1. a replica is SIGKILLed, then started again;
 *   2. PostgreSQL is stopped (fast shutdown, as an operator's restart) until every replica's /ready answers 503, then
 *      started again until every replica's /ready, and then nginx's, answers 200.
 * Then:
 *   - every answer was a decision, or, while the database was down, 503 SERVICE_UNAVAILABLE with retry-after (never a
 *     500, a 502, a 504 or a time-out); requests answered before the outage or sent after it were all decided;
 *   - every acknowledged decision reads back through nginx with the same fields (0 missing);
 *   - a client retrying each key it got no decision for gets one; in PostgreSQL, each key sent then has exactly one
 *     row in idempotency_keys and exactly one decision, the one the client was given; a replay of each acknowledged
 *     key returns the same decision.
 * Ports 18401-18403 (replicas), 18411-18413 (metrics) and 18480 (nginx): apart from cluster.test.ts (181xx),
 * audit.test.ts (182xx) and the bench (183xx). Every process is stopped by pid in afterAll.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findNginx, startCluster, type Cluster } from '../../scripts/cluster.js';
import { decisionId } from '../../src/decisions/audit/records.js';
import { applications } from '../helpers/applications.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { header, runLoad, type LoadReport } from './load.js';

const PORTS = { replicas: 18401, metrics: 18411, nginx: 18480 };
/** steady load: 8 clients at 300 requests/s, bounded in count and in time; the scenario below decides when it ends */
const LOAD = { amount: 12_000, ratePerSecond: 300, connections: 8, maxDurationMs: 40_000 };
/** acknowledged decisions before the kill, between the events, and after the recovery: points in the load, not times */
const STEPS = { beforeKill: 300, beforeOutage: 300, afterRecovery: 300 };

const DECISION = `id outcome probabilityOfDefault score applicationRef decidedAt modelVersion policyVersion
  reasons { code source feature impact ruleId description } policyHits { ruleId effect description }`;
const SCORE = `mutation($input: LoanApplicationInput!, $key: String) {
  scoreApplication(input: $input, idempotencyKey: $key) { __typename ... on Decision { ${DECISION} } } }`;
const SCORE_MANY = `mutation($inputs: [LoanApplicationInput!]!, $keys: [String]) {
  scoreApplications(inputs: $inputs, idempotencyKeys: $keys) { __typename ... on Decision { ${DECISION} } } }`;
const READ = `query($id: ID!) { decision(id: $id) { __typename ${DECISION} } }`;

type Decision = { id: string } & Record<string, unknown>;

let postgres: PostgresServer | undefined;
let databaseUrl: string;
let cluster: Cluster | undefined;
let runDir: string;
let report: LoadReport | undefined;
const summary: Record<string, unknown> = {};
let failed = false;

beforeAll(async () => {
  findNginx(); // fails the suite with "install nginx: apt-get install nginx" when it is missing
  runDir = mkdtempSync(path.join(tmpdir(), 'loan-cluster-pg-e2e-'));
  postgres = await startPostgres();
  databaseUrl = await postgres.createDatabase('cluster_e2e');
  cluster = await startCluster({
    replicas: 3,
    basePort: PORTS.replicas,
    metricsBasePort: PORTS.metrics,
    port: PORTS.nginx,
    runDir: path.join(runDir, 'run'),
    // DATA_DIR holds nothing of the audit here: the trail is in PostgreSQL
    env: { LOG_LEVEL: 'warn', DATA_DIR: runDir, AUDIT_DATABASE_URL: databaseUrl },
  });
}, 120_000);

afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  await cluster?.stop();
  await postgres?.destroy();
  if (report) console.log(`cluster + PostgreSQL e2e: ${JSON.stringify({ ...summary, statuses: report.statuses, durationMs: report.durationMs })}`);
  if (!runDir) return;
  // on failure, the replica and nginx logs stay for inspection
  if (failed || process.env.KEEP_E2E_RUN) console.log(`cluster + PostgreSQL e2e: run folder kept: ${runDir}`);
  else rmSync(runDir, { recursive: true, force: true });
}, 60_000);

async function post<T>(body: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${cluster!.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, json: (await res.json()) as T };
}

/** Polls `${url}/ready` of each of `urls` until every one answers `status`. */
async function untilReady(urls: string[], status: number, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  const readyOf = (url: string) =>
    fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
  for (;;) {
    const statuses = await Promise.all(urls.map(readyOf));
    if (statuses.every((s) => s === status)) return;
    if (Date.now() > deadline) throw new Error(`${what}: /ready still ${statuses.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs `work` over `items`, `concurrency` at a time. */
async function inParallel<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

describe('nginx + 3 replicas with the audit trail in PostgreSQL', () => {
  it('loses no acknowledged decision and keeps one decision per key through a replica SIGKILL and a PostgreSQL restart under load', async () => {
    const inputs = applications(500);
    const keyOf = (n: number) => `pg-e2e-${n}`;
    const inputOf = (n: number) => inputs[n % inputs.length];
    /** per request sequence number: when it was sent; then its answer */
    const sentAt: number[] = [];
    const answers = new Map<number, { status: number; body: string; retryAfter: string; at: number }>();
    const acknowledged = new Map<number, Decision>();
    const waiters: Array<{ count: number; resolve: () => void }> = [];
    const whenAcknowledged = (more: number) =>
      new Promise<void>((resolve) => waiters.push({ count: acknowledged.size + more, resolve }));

    const outage = { from: Infinity, to: Infinity };
    const victim = cluster!.replicas[1];
    const scenario = (async () => {
      await whenAcknowledged(STEPS.beforeKill);
      process.kill(victim.pid, 'SIGKILL');
      expect((await victim.exited).signal).toBe('SIGKILL');
      await cluster!.restartReplica(2);
      await whenAcknowledged(STEPS.beforeOutage);

      outage.from = performance.now();
      await postgres!.stop();
      const replicas = cluster!.replicas.map((r) => r.url);
      await untilReady(replicas, 503, 'PostgreSQL stopped: the replicas');
      await postgres!.start();
      await untilReady(replicas, 200, 'PostgreSQL started again: the replicas');
      // nginx rests each replica for fail_timeout after its last 503, and answers 503 itself meanwhile: the outage
      // ends, for clients, once nginx reaches a replica again (after that one, none refuses)
      await untilReady([cluster!.url], 200, 'PostgreSQL started again: nginx');
      outage.to = performance.now();
      await whenAcknowledged(STEPS.afterRecovery);
    })();
    // the load stops with the scenario, failed or not; its failure is reported below
    const scenarioDone = scenario.then(
      () => undefined,
      (error: unknown) => error,
    );

    report = await runLoad({
      url: cluster!.url,
      ...LOAD,
      bodyFor: (n) => {
        sentAt[n] = performance.now();
        return JSON.stringify({ query: SCORE, variables: { input: inputOf(n), key: keyOf(n) } });
      },
      onAnswer: (n, status, body, headers) => {
        answers.set(n, { status, body, retryAfter: header(headers, 'retry-after'), at: performance.now() });
        if (status !== 200) return;
        const decision = (JSON.parse(body) as { data?: { scoreApplication?: Decision } }).data?.scoreApplication;
        if (decision?.id) acknowledged.set(n, decision);
        for (const w of waiters.filter((w) => acknowledged.size >= w.count)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      },
      until: scenarioDone,
    });
    // the load was bounded, ran through the whole scenario, and nothing hung or broke a connection
    if (!report.stoppedByUntil) throw new Error(`the load ended before the scenario did: ${JSON.stringify({ outage, acknowledged: acknowledged.size, report })}`);
    const failure = await scenarioDone;
    if (failure) throw failure;
    expect(report.capped).toBe(false);
    expect(report.errors).toBe(0);
    expect(report.timeouts).toBe(0);

    // every answer: a decision, or, while the database was down, a retryable 503
    const refused = [...answers].filter(([, a]) => a.status !== 200);
    const sent = sentAt.length;
    Object.assign(summary, {
      sent,
      acknowledged: acknowledged.size,
      refused503: refused.length,
      // who refused: nginx (every replica out for fail_timeout after a 503) or a replica (its audit store)
      refusedByNginx: refused.filter(([, a]) => a.body.includes('No replica can take')).length,
      droppedWhenTheLoadStopped: sent - answers.size,
      outageMs: Math.round(outage.to - outage.from),
    });
    for (const [n, answer] of refused) {
      let code: unknown;
      try {
        code = (JSON.parse(answer.body) as { errors?: Array<{ extensions?: { code?: string } }> }).errors?.[0]?.extensions?.code;
      } catch {
        code = '(not JSON)';
      }
      expect({ status: answer.status, code }, answer.body).toEqual({ status: 503, code: 'SERVICE_UNAVAILABLE' });
      expect(answer.retryAfter, answer.body).toMatch(/^[1-9]\d*$/);
      // answered after the database went down, and sent before nginx reached a ready replica again
      expect(answer.at, `request ${n} refused outside the outage`).toBeGreaterThan(outage.from);
      expect(sentAt[n], `request ${n} refused outside the outage`).toBeLessThan(outage.to);
    }
    for (const [n, answer] of answers) {
      if (answer.status === 200) expect(acknowledged.has(n), answer.body).toBe(true);
    }
    expect(refused.length, 'the outage refused no request: the test would prove nothing').toBeGreaterThan(0);
    expect([...answers.keys()].some((n) => sentAt[n] > outage.to && answers.get(n)!.status === 200)).toBe(true);

    // every acknowledged decision reads back, through nginx, exactly as it was answered
    const missing: string[] = [];
    const ids = [...acknowledged.values()];
    const chunks = Array.from({ length: Math.ceil(ids.length / 20) }, (_, i) => ids.slice(i * 20, i * 20 + 20));
    await inParallel(chunks, 4, async (chunk) => {
      // one HTTP batch of up to 20 operations (HTTP_BATCH_LIMIT)
      const { status, json } = await post<Array<{ data?: { decision: Decision | null } }>>(chunk.map((d) => ({ query: READ, variables: { id: d.id } })));
      expect(status).toBe(200);
      chunk.forEach((decision, i) => {
        const read = json[i]?.data?.decision;
        if (!read) missing.push(decision.id);
        else expect(read).toEqual(decision);
      });
    });
    expect(missing).toEqual([]);

    // a client retries each key it got no decision for (refused, or dropped in flight when the load stopped): decided
    const unanswered = Array.from({ length: sent }, (_, n) => n).filter((n) => !acknowledged.has(n));
    const retried = new Map<number, Decision>();
    await inParallel(unanswered, 8, async (n) => {
      const { status, json } = await post<{ data?: { scoreApplication?: Decision } }>({ query: SCORE, variables: { input: inputOf(n), key: keyOf(n) } });
      expect(status, JSON.stringify(json)).toBe(200);
      retried.set(n, json.data!.scoreApplication!);
    });
    const given = new Map([...acknowledged, ...retried]);

    // a replay of every acknowledged key (100 a request) returns the decision already made
    const keyed = [...acknowledged.keys()];
    for (let i = 0; i < keyed.length; i += 100) {
      const slice = keyed.slice(i, i + 100);
      const { status, json } = await post<{ data?: { scoreApplications?: Decision[] } }>({
        query: SCORE_MANY,
        variables: { inputs: slice.map(inputOf), keys: slice.map(keyOf) },
      });
      expect(status).toBe(200);
      expect(json.data!.scoreApplications!).toEqual(slice.map((n) => acknowledged.get(n)));
    }

    // in PostgreSQL: one key row and one decision per key sent, the decision the client was given
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      type Row = { key: string; batch_id: string; position: number };
      const idsByKey = async (table: string) => {
        const { rows } = await client.query<Row>(
          `SELECT idempotency_key AS key, batch_id, position FROM ${table} WHERE idempotency_key LIKE 'pg-e2e-%'`,
        );
        const ids = new Map<string, string[]>();
        for (const r of rows) ids.set(r.key, [...(ids.get(r.key) ?? []), decisionId(r.batch_id, r.position)]);
        return ids;
      };
      const keyRows = await idsByKey('idempotency_keys');
      const decisionRows = await idsByKey('decisions');
      const wrong: string[] = [];
      for (let n = 0; n < sent; n++) {
        const expected = [given.get(n)!.id];
        const [keyIds, decisionIds] = [keyRows.get(keyOf(n)), decisionRows.get(keyOf(n))];
        if (JSON.stringify(keyIds) !== JSON.stringify(expected) || JSON.stringify(decisionIds) !== JSON.stringify(expected)) {
          wrong.push(`${keyOf(n)}: given ${expected[0]}; key rows ${JSON.stringify(keyIds)}, decisions ${JSON.stringify(decisionIds)}`);
        }
      }
      expect(wrong).toEqual([]);
      expect([keyRows.size, decisionRows.size]).toEqual([sent, sent]);
      const { rows: [count] } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM decisions');
      expect(count.n).toBeGreaterThanOrEqual(acknowledged.size);
      Object.assign(summary, { missing: missing.length, retriedAfterwards: unanswered.length, decisionsInPostgres: count.n });
    } finally {
      await client.end();
    }
  }, 90_000);
});
