/**
 * End-to-end: the one-machine deployment of `npm run cluster` (scripts/cluster.ts startCluster) — Debian's nginx
 * with the config rendered from deploy/nginx.conf.template, in front of three real replicas of
 * `node dist/src/server.js` — under failures. No stand-ins: the replicas are the built server.
 *
 *   (a) requests are spread over all three replicas (nginx's access log says which replica answered; clients are
 *       not told)
 *   (b) SIGKILL of a replica during steady load → no failed client request
 *   (c) SIGTERM of a replica during steady load (rolling restart) → no failed request, the replica exits 0,
 *       and once restarted it serves again
 *   (d) a fourth replica that is up but not ready (its model file is a FIFO nobody writes yet, so the model load
 *       hangs: /health 200, /ready 503, /graphql 503) sits in nginx's upstream for the whole run and never serves a
 *       request; nginx does try it (503) and moves on. Once its model arrives it becomes ready and serves.
 *
 * Ports 18101-18104 (replicas) and 18180 (nginx) are below Linux's ephemeral range, so they do not collide with the
 * random ports other test files take. nginx missing → the suite fails (startCluster throws "install nginx").
 * Every process is started here or by startCluster and stopped by pid in afterAll.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, copyFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/nginx-config.js';
import { findNginx, spawnReplica, startCluster, stopProcess, type Cluster, type Replica } from '../../scripts/cluster.js';
import { attributeReplicas, readAccessLog, runLoad, SCORE_BODY, isDecision, type LoadReport } from './load.js';

const ROOT = repoRoot();
const BASE_PORT = 18101;
const NOT_READY_PORT = 18104;
const NGINX_PORT = 18180;
const METRICS_BASE_PORT = 18111;
const MODEL_DIR = path.join(ROOT, 'models', 'loan-default-lr-1.0.0');

/**
 * Replica settings for the run: a 10 ms batch window keeps several requests inside the replicas at any moment,
 * so a kill or a SIGTERM lands on in-flight requests rather than between them. DATA_DIR (the audit database,
 * shared by the replicas as the compose volume is) lives in the run folder, not in the repository's data/.
 */
let REPLICA_ENV: Record<string, string>;

/** 3,000 requests at 500/s: 6 s of steady load, 10 connections, capped at 25 s. */
const STEADY = { amount: 3_000, ratePerSecond: 500, connections: 10, maxDurationMs: 25_000 } as const;

let runDir: string;
let cluster: Cluster | undefined;
let notReady: Replica | undefined;
let fifo: string;
const reports: Record<string, LoadReport> = {};
/** per load phase: requests nginx had to send to more than one replica, by the attempts' statuses */
const retries: Record<string, Record<string, number>> = {};
let anyFailed = false;

function summary(report: LoadReport): string {
  return JSON.stringify({
    amount: report.amount,
    responses: report.responses,
    decisions: report.decisions,
    failed: report.failed,
    non2xx: report.non2xx,
    errors: report.errors,
    timeouts: report.timeouts,
    statuses: report.statuses,
    byReplica: report.byReplica,
    failedByReplica: report.failedByReplica,
    durationMs: report.durationMs,
    p99Ms: report.p99Ms,
    capped: report.capped,
    samples: report.samples,
  });
}

function expectNoFailures(report: LoadReport): void {
  const detail = summary(report);
  expect(report.capped, detail).toBe(false);
  expect(report.errors, detail).toBe(0);
  expect(report.timeouts, detail).toBe(0);
  expect(report.non2xx, detail).toBe(0);
  expect(report.notDecision, detail).toBe(0);
  expect(report.failed, detail).toBe(0);
  expect(report.responses, detail).toBe(report.amount);
  expect(report.decisions, detail).toBe(report.amount);
}

const accessLog = () => readAccessLog(path.join(runDir, 'logs', 'nginx-access.log'));

/** nginx writes an access log line just after its response: waits until every given request id is in the log. */
async function untilLogged(requestIds: () => string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (requestIds().length > 0) {
    if (Date.now() > deadline) throw new Error(`not in nginx's access log: ${requestIds().slice(0, 5).join(', ')}`);
    await sleep(20);
  }
}

/**
 * Runs a load phase, attributes its responses to replicas and records which requests nginx retried on another
 * replica (both from its access log).
 */
async function phase(name: string, options: Parameters<typeof runLoad>[0]): Promise<LoadReport> {
  const before = accessLog().length;
  const report = await runLoad(options);
  reports[name] = report;
  await untilLogged(() => attributeReplicas(report, accessLog()));
  const counts: Record<string, number> = {};
  for (const entry of accessLog().slice(before)) {
    if (entry.upstreams.length < 2) continue;
    const key = entry.upstreamStatuses.join(',');
    counts[key] = (counts[key] ?? 0) + 1;
  }
  retries[name] = counts;
  return report;
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** GET `path` exactly as written (no client-side normalisation of `..` or `\\`); resolves with the whole answer. */
function rawGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // write, not end: nginx drops a request whose client has already half-closed the connection
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

/** Sends single requests (at most `max`, for at most `ms`) until `replicaId` answers one; returns how many it took. */
async function untilServedBy(url: string, replicaId: string, max: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (let i = 1; i <= max && Date.now() < deadline; i++) {
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: SCORE_BODY });
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(isDecision(body), body).toBe(true);
    expect(res.headers.get('x-replica-id')).toBeNull();
    const requestId = res.headers.get('x-request-id')!;
    const logged = () => accessLog().find((e) => e.requestId === requestId);
    await untilLogged(() => (logged() ? [] : [requestId]));
    if (logged()!.replica === replicaId) return i;
    await sleep(20);
  }
  throw new Error(`${replicaId} served none of up to ${max} requests within ${ms} ms`);
}

beforeAll(async () => {
  findNginx(); // fails the suite with "install nginx: apt-get install nginx" when it is missing
  runDir = mkdtempSync(path.join(tmpdir(), 'loan-cluster-e2e-'));
  mkdirSync(path.join(runDir, 'data'));
  REPLICA_ENV = { LOG_LEVEL: 'info', BATCH_WINDOW_MS: '10', MODEL_DIR, DATA_DIR: path.join(runDir, 'data') };

  // The not-ready replica: the real server, whose MODEL_DIR holds the real model.json and a FIFO as the ONNX file.
  // The server's async readFile waits on the FIFO (in libuv's thread pool), so the process is up but not ready.
  const manifest = JSON.parse(readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8')) as { onnxFile?: string };
  const slowModelDir = path.join(runDir, 'slow-model');
  mkdirSync(slowModelDir);
  copyFileSync(path.join(MODEL_DIR, 'model.json'), path.join(slowModelDir, 'model.json'));
  fifo = path.join(slowModelDir, manifest.onnxFile ?? 'model.onnx');
  const mkfifo = spawnSync('mkfifo', [fifo], { encoding: 'utf8' });
  if (mkfifo.status !== 0) throw new Error(`mkfifo failed: ${mkfifo.stderr}`);

  cluster = await startCluster({
    replicas: 3,
    basePort: BASE_PORT,
    metricsBasePort: METRICS_BASE_PORT,
    port: NGINX_PORT,
    runDir,
    env: REPLICA_ENV,
    extraUpstreamPorts: [NOT_READY_PORT],
    build: 'auto',
  });

  // started after startCluster (which builds dist if needed); nginx already lists its port, which until now
  // refused connections: also a case nginx must skip
  notReady = spawnReplica({
    root: ROOT,
    entry: 'dist/src/server.js',
    index: 4,
    port: NOT_READY_PORT,
    metricsPort: METRICS_BASE_PORT + 3,
    runDir,
    env: { ...REPLICA_ENV, MODEL_DIR: slowModelDir },
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (notReady.exit) throw new Error(`not-ready replica exited: ${readFileSync(notReady.logFile, 'utf8')}`);
    const health = await fetch(`${notReady.url}/health`).then((r) => r.status, () => 0);
    if (health === 200) break;
    if (Date.now() > deadline) throw new Error('not-ready replica never answered /health');
    await sleep(100);
  }
  expect((await fetch(`${notReady.url}/ready`)).status).toBe(503);
  const direct = await fetch(`${notReady.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: SCORE_BODY });
  expect(direct.status).toBe(503);
}, 180_000);

afterEach((context) => {
  if (context.task.result?.state === 'fail') anyFailed = true;
});

afterAll(async () => {
  const processes = [...(cluster?.replicas ?? []), ...(notReady ? [notReady] : [])].map(
    (r) => `${r.id} pid ${r.pid}: ${r.exit ? `exited code ${r.exit.code} signal ${r.exit.signal}` : 'running'}`,
  );
  await cluster?.stop();
  if (notReady) await stopProcess(notReady, 'SIGTERM', 10_000);
  const report = Object.entries(reports).map(([name, r]) => `${name}: ${summary(r)} retried=${JSON.stringify(retries[name] ?? {})}`);
  if (report.length) console.log(`cluster e2e load results\n${report.join('\n')}`);
  if (!runDir) return;
  if (anyFailed || process.env.KEEP_E2E_RUN) {
    // leave the evidence: replica logs, nginx access/error logs, the rendered nginx.conf
    console.log(`cluster e2e: run folder kept for inspection: ${runDir}\nbefore stop: ${processes.join('; ')}`);
  } else {
    rmSync(runDir, { recursive: true, force: true });
  }
}, 60_000);

describe('nginx + 3 replicas on loopback (npm run cluster)', () => {
  it('(a) spreads requests over all three replicas', async () => {
    const report = await phase('a', { url: cluster!.url, amount: 600, ratePerSecond: 400, connections: 6, maxDurationMs: 15_000 });
    expectNoFailures(report);
    for (const replica of ['replica-1', 'replica-2', 'replica-3']) {
      // least_conn with equal replicas is close to round robin: each gets about a third
      expect(report.byReplica[replica] ?? 0, summary(report)).toBeGreaterThanOrEqual(600 * 0.15);
    }
    expect(report.byReplica['replica-4'], summary(report)).toBeUndefined();
  });

  it('serves no metrics through nginx, however the path is spelled; each replica serves them on its own port', async () => {
    const nginxPort = Number(new URL(cluster!.url).port);
    for (const spelling of ['/metrics', '/x/..\\metrics', '/graphql/..\\metrics', '/x/%2e%2e\\metrics', '/x/%2e%2e/metrics']) {
      const answer = await rawGet(nginxPort, spelling);
      expect(answer, spelling).toMatch(/^HTTP\/1\.1 (400|404) /);
      expect(answer, spelling).not.toContain('loan_api_');
      expect(answer.toLowerCase(), spelling).not.toContain('x-replica-id');
    }
    for (const replica of cluster!.replicas) {
      const text = await (await fetch(`${replica.metricsUrl}/metrics`)).text();
      expect(text).toContain('loan_api_http_requests_total');
    }
  });

  it('forwards or creates X-Request-ID, and logs which replica answered without telling the client', async () => {
    const res = await fetch(`${cluster!.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'e2e-request-id-1' },
      body: SCORE_BODY,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-replica-id')).toBeNull();
    expect(res.headers.get('x-request-id')).toBe('e2e-request-id-1');
    await res.text();
    const unnamed = await fetch(`${cluster!.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: SCORE_BODY });
    await unnamed.text();
    expect(unnamed.headers.get('x-replica-id')).toBeNull();
    const generated = unnamed.headers.get('x-request-id')!;
    expect(generated).toMatch(/^[0-9a-f]{32}$/);
    await untilLogged(() => ['e2e-request-id-1', generated].filter((id) => !accessLog().some((e) => e.requestId === id)));
    const entry = accessLog().find((e) => e.requestId === 'e2e-request-id-1')!;
    expect(entry.replica).toMatch(/^replica-[123]$/);
  });

  it('(b) loses no request when a replica is SIGKILLed under load', async () => {
    const victim = cluster!.replicas[1];
    const report = await phase('b', {
      url: cluster!.url,
      ...STEADY,
      actions: [{ atMs: 2_000, run: () => process.kill(victim.pid, 'SIGKILL') }],
    });
    const exit = await victim.exited;
    expect(exit.signal).toBe('SIGKILL');
    expectNoFailures(report);
    expect(report.durationMs).toBeGreaterThanOrEqual(5_000);
    // it served before the kill, and the others carried the rest
    expect(report.byReplica['replica-2'] ?? 0).toBeGreaterThan(0);
    expect(report.byReplica['replica-2'] ?? 0).toBeLessThan(STEADY.amount / 3);
    await cluster!.restartReplica(2);
  }, 60_000);

  it('(c) loses no request when a replica is SIGTERMed under load (rolling restart); it exits 0 and serves again', async () => {
    const victim = cluster!.replicas[0];
    const report = await phase('c', {
      url: cluster!.url,
      ...STEADY,
      actions: [{ atMs: 2_000, run: () => process.kill(victim.pid, 'SIGTERM') }],
    });
    const exit = await Promise.race([victim.exited, sleep(30_000).then(() => ({ code: -1, signal: 'timeout' }))]);
    expect(exit).toEqual({ code: 0, signal: null });
    expectNoFailures(report);
    expect(report.durationMs).toBeGreaterThanOrEqual(5_000);
    expect(report.byReplica['replica-1'] ?? 0).toBeGreaterThan(0);

    // the restarted replica-1 gets traffic again once nginx's fail_timeout (5 s) has passed
    const replacement = await cluster!.restartReplica(1);
    expect(replacement.pid).not.toBe(victim.pid);
    const tries = await untilServedBy(cluster!.url, 'replica-1', 2_000, 15_000);
    expect(tries).toBeGreaterThan(0);
  }, 90_000);

  it('(d) never lets the not-ready replica serve; nginx tries it, gets 503 and moves on; ready, it serves', async () => {
    const report = await phase('d', { url: cluster!.url, amount: 1_500, ratePerSecond: 500, connections: 10, maxDurationMs: 15_000 });
    expectNoFailures(report);

    // over the whole run (a–d): no response from replica 4, yet nginx did send it requests
    const all = Object.values(reports);
    expect(all.reduce((n, r) => n + (r.byReplica['replica-4'] ?? 0) + (r.failedByReplica['replica-4'] ?? 0), 0)).toBe(0);
    const entries = accessLog();
    const attempts = entries.flatMap((e) => e.upstreams.map((u, i) => ({ upstream: u, status: e.upstreamStatuses[i] })));
    const toNotReady = attempts.filter((a) => a.upstream === `127.0.0.1:${NOT_READY_PORT}`);
    expect(toNotReady.length, 'nginx never tried the not-ready replica: the test would prove nothing').toBeGreaterThan(0);
    expect(toNotReady.filter((a) => a.status !== '503' && a.status !== '502')).toEqual([]);
    expect(toNotReady.some((a) => a.status === '503')).toBe(true);
    expect(entries.filter((e) => e.status >= 500)).toEqual([]);

    // now give it its model: it loads, becomes ready and is served traffic like the others
    const model = readFileSync(path.join(MODEL_DIR, path.basename(fifo)));
    const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK); // ENXIO if the server were not reading
    try {
      let written = 0;
      while (written < model.length) {
        try {
          written += writeSync(fd, model, written);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
          await sleep(5);
        }
      }
    } finally {
      closeSync(fd);
    }
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${notReady!.url}/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline) throw new Error(`replica-4 did not become ready: ${readFileSync(notReady!.logFile, 'utf8')}`);
      await sleep(100);
    }
    const tries = await untilServedBy(cluster!.url, 'replica-4', 2_000, 15_000);
    expect(tries).toBeGreaterThan(0);
  }, 90_000);
});
