/**
 * `npm run bench`: every performance comparison of the service in one invocation, each configuration a real
 * process (`node dist/src/server.js`, built first if stale, LOG_LEVEL=warn, its own temp DATA_DIR) started and
 * stopped by pid, load from autocannon on 127.0.0.1, runs of the compared configurations interleaved so drift on
 * a noisy machine spreads over all of them, medians of ≥ 3 runs, ratios against a baseline measured in the same
 * invocation.
 *
 *   npm run bench                        everything (about 6-7 minutes); writes BENCHMARKS.md
 *   npm run bench -- --quick             1 run of 1 s per point, for smoke use (BENCHMARKS.md untouched)
 *   npm run bench -- --only frontend     one section (model, bulk, frontend, cluster, memory; or 1-5; comma list)
 *   npm run bench -- --runs 5            runs per point (default 3; 5 for the points a target is judged on)
 *   npm run bench -- --no-md             don't touch BENCHMARKS.md
 *   npm run bench -- --no-seed           don't start the seed (the cluster targets then read "not measured")
 *
 * Sections:
 *   1 model     applications/s through the batcher vs raw session.run at batch 1, 64, 1,024 (bench/model.ts)
 *   2 bulk      scoreApplications × 100 and × 1,000 on one replica, audit on and off, vs bench/raw-endpoint.ts
 *   3 frontend  single scoreApplication at 1/16/64/256 connections: BATCH_WINDOW_MS 0, 1, 2; BATCH_SCOPE=request;
 *               AUDIT=off at 64
 *   4 cluster   nginx + 3 replicas (scripts/cluster.ts startCluster): single at 64 connections, bulk of 100 at 64,
 *               beside the seed's design (FastAPI + scikit-learn, 3 uvicorn replicas behind nginx, bench/lib/seed.ts)
 *               on the same loads, rounds alternating between the two
 *   5 memory    VmRSS idle and under load (single at 64 connections, bulk of 1,000), spawn → /ready, 3 starts
 *   6 reasons   the committed model's reasons over the 10,000 held-out rows (values, not speed)
 *   7 watch     drift monitoring's cost: ScoringModel.score × 100 with and without a monitor, and the bulk of 100 on
 *               one replica with MONITOR=off beside MONITOR=on, and a challenger (loan-default-lr-1.1.0) beside none
 *
 * Every server runs with production's environment (NODE_ENV=production, MALLOC_ARENA_MAX=2: as npm start and the image).
 *
 * Raw results: bench/results/bench-<timestamp>.json (-quick / -only-<sections> suffixed when partial).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureBuild, startCluster, withBuildLock, type Cluster } from '../scripts/cluster.js';
import { repoRoot } from '../scripts/nginx-config.js';
import {
  bulkBody,
  isBulkDecisions,
  isRawScores,
  isSeedPrediction,
  isSeedPredictions,
  isSingleDecision,
  runLoad,
  scrapeBatchSize,
  seedBulkBody,
  seedSingleBody,
  singleBody,
  verifyOnce,
  verifySeedOnce,
  type BodyCheck,
  type LoadResult,
} from './lib/load.js';
import {
  registerTempDir,
  registerPid,
  removeTempDir,
  rssMB,
  sampleRss,
  startProcess,
  tempDir,
  unregisterPid,
  watchForeignCpu,
  withDescendants,
  type BenchProcess,
} from './lib/proc.js';
import { SEED_BULK_PATH, SEED_SINGLE_PATH, seedAvailability, startSeed, type Seed, type SeedAvailability } from './lib/seed.js';
import { decisionFrom } from '../src/decisions/decision.js';
import { loadPolicy } from '../src/decisions/policy.js';
import { DriftMonitor } from '../src/model/drift-monitor.js';
import { encode } from '../src/model/features.js';
import { ScoringModel } from '../src/model/scoring-model.js';
import { foreignCategories, heldOutApplications } from '../training/held-out.js';
import { generateLoanBook } from '../training/synthetic.js';
import { median, runModelBench } from './model.js';

// ---------------------------------------------------------------------------------------------------------------
// options

const SECTIONS = ['model', 'bulk', 'frontend', 'cluster', 'memory', 'reasons', 'watch'] as const;
type Section = (typeof SECTIONS)[number];

function parseArgs(argv: string[]) {
  let quick = false;
  let md = true;
  let seed = true;
  let runs: number | undefined;
  let only: Section[] = [...SECTIONS];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') quick = true;
    else if (a === '--no-md') md = false;
    else if (a === '--no-seed') seed = false;
    else if (a === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error('--runs needs an integer from 1 to 20');
    }
    else if (a === '--only' || a.startsWith('--only=')) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!value) throw new Error('--only needs a section: model, bulk, frontend, cluster, memory, reasons, watch (or 1-7)');
      only = value.split(',').map((v) => {
        const s = /^\d$/.test(v) ? SECTIONS[Number(v) - 1] : (v as Section);
        if (!SECTIONS.includes(s)) throw new Error(`unknown section "${v}": model, bulk, frontend, cluster, memory, reasons, watch (or 1-7)`);
        return s;
      });
    } else throw new Error(`unknown argument ${a} (--quick, --only <section>, --runs N, --no-md, --no-seed)`);
  }
  return { quick, md, only, runs, seed };
}

const opts = parseArgs(process.argv.slice(2));
const QUICK = opts.quick;
const RUNS = opts.runs ?? (QUICK ? 1 : 3);
/**
 * Runs of the points a target is judged on (single requests at 64 connections on one replica, the cluster): single
 * requests on this 2-core machine vary by ±30 % from run to run even when nothing else runs, so 5, not 3.
 */
const TARGET_RUNS = QUICK ? RUNS : Math.max(RUNS, 5);
const DURATION_S = QUICK ? 1 : 3;
/** the duration-bounded first run of each load shape on each server: warm-up and rate calibration, not recorded */
const WARMUP_S = QUICK ? 1 : 1.5;
const FRONTEND_CONNECTIONS = [1, 16, 64, 256];
const BULK_SIZES = [100, 1000];
const BULK_CONNECTIONS = 8;
const CLUSTER_BULK_CONNECTIONS = 64;
const CLUSTER = { replicas: 3, basePort: 18301, metricsBasePort: 18311, nginxPort: 18380 };
const BASELINE = { rssMB: 150 };
/**
 * The cluster's targets, against the seed measured in the same invocation on the same loads (never against numbers
 * from another machine): bulk of 100 ≥ 4× its applications/s with no request over 2 s and a lower p99; single
 * requests ≥ 10× its requests/s with p99 < 50 ms.
 */
const SEED_TARGETS = { bulkFactor: 4, singleFactor: 10, singleP99Ms: 50 };

const root = repoRoot();
process.chdir(root);
const benchStarted = new Date();
const t0 = performance.now();
const log = (line: string) => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // the exit handler of lib/proc.ts kills every process still running
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every server started by the bench`);
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// environment

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

function git(args: string[]): string {
  const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trimEnd() : '';
}

/** The filesystem type holding a path (longest matching mount point in /proc/mounts). */
function fsType(p: string): string {
  try {
    let best = { point: '', type: 'unknown' };
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [, point, type] = line.split(' ');
      if (point && (p === point || p.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length > best.point.length) {
        best = { point, type };
      }
    }
    return best.type;
  } catch {
    return 'unknown';
  }
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function environment() {
  const nginx = spawnSync('/usr/sbin/nginx', ['-v'], { encoding: 'utf8' });
  const srcChanges = git(['status', '--porcelain', '--', 'src']).split('\n').filter(Boolean);
  return {
    cpuModel: cpuModel(),
    cores: os.cpus().length,
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: packageVersion('onnxruntime-node'),
    autocannon: packageVersion('autocannon'),
    nginx: (nginx.stderr || nginx.stdout || '').trim().replace(/^nginx version:\s*/, '') || 'not found',
    gitCommit: git(['rev-parse', 'HEAD']).trim(),
    gitCommitSubject: git(['log', '-1', '--format=%s']).trim(),
    /** files under src/ that differ from the commit: the servers measured were built from the working tree */
    srcUncommitted: srcChanges.map((l) => l.slice(3)),
    /** when the dist/ the servers run (a snapshot of it) was compiled */
    distBuiltAt: existsSync(path.join(root, 'dist', 'src', 'server.js')) ? statSync(path.join(root, 'dist', 'src', 'server.js')).mtime.toISOString() : 'unknown',
    dataDirFilesystem: fsType(os.tmpdir()),
    loadAverageAtStart: os.loadavg(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// servers

interface ServerConfig {
  key: string;
  label: string;
  kind: 'api' | 'raw';
  env?: Record<string, string>;
}

/** The environment every API server gets: explicit values for every knob the bench varies or depends on. */
function apiEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // as production runs (npm start, the image): libraries (Yoga among them) take their development paths otherwise,
    // and glibc's per-thread malloc arenas change the resident memory measured
    NODE_ENV: 'production',
    MALLOC_ARENA_MAX: '2',
    LOG_LEVEL: 'warn',
    DATA_DIR: extra.DATA_DIR ?? tempDir('data'),
    BATCH_WINDOW_MS: '1',
    BATCH_MAX_SIZE: '1024',
    BATCH_SCOPE: 'process',
    AUDIT: 'on',
    AUDIT_SYNC: 'full',
    INTRA_OP_THREADS: '1',
    SHUTDOWN_GRACE_MS: '0',
    ...extra,
  };
  delete env.AUDIT_DB; // each server its own database in its own DATA_DIR
  delete env.PORT;
  return env;
}

/**
 * The server every configuration runs: a copy of dist/ taken once at the start (under run/, so node_modules and
 * the project folder resolve as from dist/), so that a rebuild by someone else during the bench cannot give the
 * sections different code. Set in main().
 */
let serverEntry = 'dist/src/server.js';

const dataDirs = new WeakMap<BenchProcess, string>();
const unexpectedExits: Array<{ at: string; code: number | null; signal: string | null; logTail: string }> = [];

function onUnexpectedExit(info: { code: number | null; signal: NodeJS.Signals | null }, logTail: string): void {
  unexpectedExits.push({ at: new Date().toISOString(), code: info.code, signal: info.signal, logTail });
  log(`  ! a server exited on its own: code ${info.code}, signal ${info.signal}${logTail.trim() ? `; its last output:\n${logTail}` : ' (no output)'}`);
}

/** A server under test is gone: the run is repeated on a restarted server, or the section aborted. */
class ServerGone extends Error {}

/** restarts allowed per section after servers under test exited on their own (or were stopped from outside) */
const RESTARTS_PER_SECTION = 3;
const restarts: Array<{ at: string; reason: string }> = [];

/**
 * Runs `attempt`; when a server under test turns out to be gone (ServerGone), `revive` brings the system back
 * and the attempt is repeated, at most `budget.left` times (then the ServerGone propagates and aborts the section).
 * A run cut short by a dead server is never recorded: only complete runs are.
 */
async function retrying<T>(budget: { left: number }, revive: () => Promise<void>, attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ServerGone) || budget.left <= 0) throw error;
      budget.left--;
      restarts.push({ at: new Date().toISOString(), reason: error.message });
      log(`  ! ${error.message}: restarting it and repeating the run`);
      await revive();
    }
  }
}

/** The servers of a section by configuration key; `revive` restarts (and re-verifies) the ones that have exited. */
function fleet(configs: ServerConfig[], verifyShapes: Shape[]) {
  const servers = new Map<string, BenchProcess>();
  const budget = { left: RESTARTS_PER_SECTION };
  const target = (c: ServerConfig): Target => {
    const s = servers.get(c.key)!;
    return { url: s.url, kind: c.kind, pids: [s.pid], metricsUrls: c.kind === 'api' ? [s.metricsUrl] : [], gone: goneOf([s]) };
  };
  const startOne = async (c: ServerConfig) => {
    servers.set(c.key, await startServer(c));
    for (const shape of verifyShapes) await verify(target(c), shape);
  };
  const revive = async () => {
    for (const c of configs) {
      const old = servers.get(c.key);
      if (old?.exitInfo()) {
        await stopServer(old);
        await startOne(c);
      }
    }
  };
  return {
    start: async () => {
      for (const c of configs) await startOne(c);
    },
    measure: (c: ServerConfig, shape: Shape) => retrying(budget, revive, () => measure(target(c), shape)),
    stop: () => Promise.all([...servers.values()].map(stopServer)),
  };
}

async function startServer(config: ServerConfig): Promise<BenchProcess> {
  const env = config.kind === 'api' ? apiEnv(config.env) : undefined;
  const server =
    config.kind === 'raw'
      ? await startProcess({
          label: config.key,
          cwd: root,
          args: ['--import', 'tsx', 'bench/raw-endpoint.ts'],
          env: { ...process.env, NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', INTRA_OP_THREADS: '1', ...config.env },
          onUnexpectedExit,
        })
      : await startProcess({ label: config.key, cwd: root, args: [serverEntry], env: env!, onUnexpectedExit });
  if (env?.DATA_DIR) dataDirs.set(server, env.DATA_DIR);
  log(`started ${config.label}: pid ${server.pid}, ready in ${server.readyMs.toFixed(0)} ms`);
  return server;
}

async function stopServer(server: BenchProcess): Promise<void> {
  await server.stop();
  const dir = dataDirs.get(server);
  if (dir) removeTempDir(dir);
}

interface Shape {
  key: string;
  items: number;
  connections: number;
  body: string;
  /** the same applications in the seed's field names (POST /predict for one, /predict_batch for a list) */
  seedBody: string;
}

const single = (connections: number): Shape => ({ key: `single-c${connections}`, items: 1, connections, body: singleBody(), seedBody: seedSingleBody() });
const bulk = (items: number, connections: number): Shape => ({
  key: `bulk${items}-c${connections}`,
  items,
  connections,
  body: bulkBody(items),
  seedBody: seedBulkBody(items),
});

interface Target {
  url: string;
  kind: 'api' | 'raw' | 'seed';
  /** processes whose RSS is sampled during the run */
  pids: number[];
  /** other processes of the system under test (nginx), not counted as foreign CPU */
  helperPids?: number[];
  /** replicas whose /metrics is scraped before and after the run */
  metricsUrls: string[];
  /** why the system under test cannot be measured any more (a process exited), or undefined */
  gone(): string | undefined;
}

const goneOf = (servers: BenchProcess[]) => () => {
  const dead = servers.filter((s) => s.exitInfo());
  return dead.length
    ? dead.map((s) => `${s.label} (pid ${s.pid}) exited: code ${s.exitInfo()!.code}, signal ${s.exitInfo()!.signal}`).join('; ')
    : undefined;
};

interface Measured extends LoadResult {
  /** largest VmRSS seen per sampled process during the run, MB */
  rssMaxMB: number[];
  /** cores busy with other processes of the machine during the run (not the servers, nginx or the bench) */
  foreignCores: number;
  /** Δ_sum / Δ_count of the batch-size histogram of /metrics, null when there is none */
  meanBatchSize: number | null;
  batchMetric?: string;
}

const checkFor = (kind: Target['kind'], shape: Shape): BodyCheck =>
  kind === 'seed'
    ? shape.items === 1
      ? isSeedPrediction
      : isSeedPredictions
    : kind === 'raw'
      ? isRawScores
      : shape.items === 1
        ? isSingleDecision
        : isBulkDecisions;

async function verify(target: Target, shape: Shape): Promise<void> {
  if (target.kind === 'seed') return verifySeedOnce(target.url, shape.seedBody, shape.items);
  await verifyOnce(target.url, shape.body, shape.items, target.kind === 'raw' ? 'raw' : shape.items === 1 ? 'single' : 'bulk');
}

/** foreign CPU (cores) during each recorded run */
const foreign: number[] = [];

/** requests/s last seen per server and load shape, to size the next run */
const rateEstimates = new Map<string, number>();

/**
 * One timed run of `shape` against `target`. Runs send a fixed number of requests, sized from the last rate seen
 * so that they last about DURATION_S, a whole number of rounds per connection: a duration-bounded run would throw
 * away the requests still in flight when it ends, which for bulk requests of ~1 s is a large share of the work.
 * The first run of a shape against a server is a duration-bounded calibration (also its warm-up), not recorded.
 */
async function measure(target: Target, shape: Shape): Promise<Measured> {
  const key = `${target.url} ${shape.key}`;
  if (!rateEstimates.has(key)) {
    const calibration = await runOnce(target, shape, { durationS: WARMUP_S });
    rateEstimates.set(key, calibration.requestsPerSecond);
  }
  const rate = rateEstimates.get(key)!;
  const rounds = Math.max(2, Math.round((rate * DURATION_S) / shape.connections));
  const m = await runOnce(target, shape, { amount: rounds * shape.connections, maxS: DURATION_S * 5 + 20 });
  if (m.ok > 0) rateEstimates.set(key, m.requestsPerSecond);
  return m;
}

async function runOnce(target: Target, shape: Shape, how: { durationS?: number; amount?: number; maxS?: number }): Promise<Measured> {
  const before0 = target.gone();
  if (before0) throw new ServerGone(before0);
  const scrape = () => Promise.all(target.metricsUrls.map((u) => scrapeBatchSize(u)));
  const before = await scrape();
  const sampler = sampleRss(target.pids);
  const cpu = watchForeignCpu([...target.pids, ...(target.helperPids ?? []).flatMap(withDescendants)]);
  const result = await runLoad({
    url: target.url,
    ...(target.kind === 'seed' ? { path: shape.items === 1 ? SEED_SINGLE_PATH : SEED_BULK_PATH, body: shape.seedBody } : { body: shape.body }),
    items: shape.items,
    connections: shape.connections,
    ...how,
    check: checkFor(target.kind, shape),
  });
  const rss = sampler.stop();
  const { foreignCores } = cpu.stop();
  const gone = target.gone();
  if (gone) throw new ServerGone(`${gone} during a run of ${shape.key}`);
  const after = await scrape();
  let meanBatchSize: number | null = null;
  let batchMetric: string | undefined;
  if (before.length > 0 && before.every(Boolean) && after.every(Boolean)) {
    const sum = after.reduce((a, m) => a + m!.sum, 0) - before.reduce((a, m) => a + m!.sum, 0);
    const count = after.reduce((a, m) => a + m!.count, 0) - before.reduce((a, m) => a + m!.count, 0);
    meanBatchSize = count > 0 ? sum / count : null;
    batchMetric = after[0]!.name;
  }
  if (result.failed > 0) log(`  ! ${result.failed} failed responses (${result.samples.join(' | ')})`);
  if (result.capped) log(`  ! stopped by the wall-clock cap after ${result.durationS.toFixed(1)} s`);
  if (how.amount !== undefined) foreign.push(foreignCores);
  return { ...result, rssMaxMB: target.pids.map((p) => rss[p] ?? NaN), foreignCores, meanBatchSize, batchMetric };
}

/** run r starts at a different configuration, so no configuration always follows the same neighbour */
const rotate = <T>(xs: T[], r: number): T[] => xs.map((_, i) => xs[(i + r) % xs.length]);

type Series = Record<string, Record<string, Measured[]>>; // config → shape → runs

function record(series: Series, config: string, shape: string, m: Measured): void {
  ((series[config] ??= {})[shape] ??= []).push(m);
}

const med = (runs: Measured[] | undefined, f: (m: Measured) => number): number => (runs && runs.length ? median(runs.map(f)) : NaN);
const rps = (m: Measured) => m.requestsPerSecond;
const aps = (m: Measured) => m.applicationsPerSecond;
const p50 = (m: Measured) => m.latency.p50;
const p99 = (m: Measured) => m.latency.p99;

// ---------------------------------------------------------------------------------------------------------------
// formatting

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) : 'n/a');
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
const pct = (n: number) => (Number.isFinite(n) ? `${(n * 100).toFixed(1)} %` : 'n/a');
const mb = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
/** median and, with more than one run, the range */
function spread(runs: Measured[] | undefined, f: (m: Measured) => number): string {
  if (!runs || runs.length === 0) return 'n/a';
  const vs = runs.map(f);
  return runs.length === 1 ? int(vs[0]) : `${int(median(vs))} (${int(Math.min(...vs))}–${int(Math.max(...vs))})`;
}
const batchCell = (runs: Measured[] | undefined) => {
  const vs = (runs ?? []).map((m) => m.meanBatchSize).filter((v): v is number => v !== null);
  return vs.length ? median(vs).toFixed(1) : 'n/a';
};
const failures = (series: Series) =>
  Object.values(series)
    .flatMap((s) => Object.values(s))
    .flat()
    .reduce((a, m) => a + m.failed, 0);

// ---------------------------------------------------------------------------------------------------------------
// sections

interface Outcome {
  name: string;
  pass: boolean | null;
  measured: string;
}

const summary: string[] = [];
const targets: Outcome[] = [];
const json: Record<string, unknown> = {};
let noMetrics = false;

async function sectionModel(): Promise<void> {
  log('section 1: model layer (in this process)');
  const { table, json: data } = await runModelBench({
    runs: RUNS,
    runMs: QUICK ? 200 : 500,
    warmupMs: QUICK ? 50 : 100,
    log: (l) => l.trim() && log(`  ${l.trim()}`),
  });
  json.model = data;
  const m = data.medians as Record<string, Record<string, number>>;
  summary.push(
    '### 1. Model layer: batcher vs raw `session.run`',
    '',
    `applications/s, closed loop (one batch in flight), median of ${RUNS} × ${QUICK ? 200 : 500} ms. "raw" = \`model.predict\` on a`,
    'pre-encoded matrix; every application brings its explanation rows (the API always computes them).',
    '',
    '| batch | raw predict (no expl.) | raw predict + expl. rows | model.score (encode + run + explain) | batcher window 0 | batcher window 1 ms | batcher 0 / raw+expl | batcher 1 ms / raw+expl |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...Object.keys(m).map((b) => {
      const r = m[b];
      return `| ${int(Number(b))} | ${int(r.predict)} | ${int(r['predict+explain'])} | ${int(r.score)} | ${int(r['batcher 0ms'])} | ${int(r['batcher 1ms'])} | ${x(r['batcher 0ms'] / r['predict+explain'])} | ${x(r['batcher 1ms'] / r['predict+explain'])} |`;
    }),
    '',
    'At batch 1 the 1 ms window is the cost by design: one application waits for company that never comes in a closed loop.',
    '',
  );
  void table;
}

async function sectionBulk(): Promise<void> {
  log('section 2: partner bulk on one replica vs the raw endpoint');
  const configs: ServerConfig[] = [
    { key: 'raw', label: 'raw node:http + ScoringModel.score', kind: 'raw' },
    { key: 'api-audit-on', label: 'API, AUDIT=on (default)', kind: 'api', env: { AUDIT: 'on' } },
    { key: 'api-audit-off', label: 'API, AUDIT=off', kind: 'api', env: { AUDIT: 'off' } },
  ];
  const shapes = BULK_SIZES.map((n) => bulk(n, BULK_CONNECTIONS));
  const servers = fleet(configs, shapes);
  const series: Series = {};
  try {
    await servers.start();
    for (const shape of shapes) {
      for (let r = 0; r < RUNS; r++) {
        for (const c of rotate(configs, r)) {
          const m = await servers.measure(c, shape);
          record(series, c.key, shape.key, m);
          log(`  ${shape.key} ${c.key} run ${r + 1}: ${int(m.applicationsPerSecond)} apps/s, p99 ${ms(m.latency.p99)} ms, others ${m.foreignCores.toFixed(2)} cores`);
        }
      }
    }
  } finally {
    await servers.stop();
  }
  json.bulk = { connections: BULK_CONNECTIONS, configs, series, failed: failures(series) };

  const rows: string[] = [];
  const ratios: Record<string, { on: number; off: number; auditCost: number }> = {};
  for (const shape of shapes) {
    const raw = med(series.raw?.[shape.key], aps);
    const on = med(series['api-audit-on']?.[shape.key], aps);
    const off = med(series['api-audit-off']?.[shape.key], aps);
    ratios[shape.items] = { on: on / raw, off: off / raw, auditCost: 1 - on / off };
    for (const c of configs) {
      const runs = series[c.key]?.[shape.key];
      const v = med(runs, aps);
      rows.push(
        `| ${int(shape.items)} | ${c.label} | ${spread(runs, aps)} | ${int(med(runs, rps))} | ${ms(med(runs, p50))} | ${ms(med(runs, p99))} | ${c.kind === 'raw' ? '1.00× (baseline)' : x(v / raw)} | ${c.kind === 'raw' ? '' : batchCell(runs)} | ${mb(med(runs, (m) => m.rssMaxMB[0]))} |`,
      );
    }
  }
  json.bulkRatios = ratios;
  summary.push(
    '### 2. Partner bulk: `scoreApplications` on one replica vs the raw endpoint',
    '',
    `${BULK_CONNECTIONS} connections, median (min–max) of ${RUNS} × ${DURATION_S} s. Raw = \`bench/raw-endpoint.ts\`: \`node:http\`, JSON.parse of the same`,
    'body, `ScoringModel.score` (same model batch, explanation rows included), JSON array of `{probabilityOfDefault}`.',
    'The API query selects `__typename ... on Decision { probabilityOfDefault }`.',
    '',
    '| items/request | server | applications/s | requests/s | p50 ms | p99 ms | ÷ raw | mean batch | RSS max MB |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  );
  const measuredAll = BULK_SIZES.every((n) => Number.isFinite(ratios[n].on) && Number.isFinite(ratios[n].off));
  targets.push({
    name: 'Partner bulk on one replica ≥ 30 % of the raw endpoint with the audit on, ≥ 50 % with it off (×100 and ×1,000)',
    pass: measuredAll ? BULK_SIZES.every((n) => ratios[n].on >= 0.3 && ratios[n].off >= 0.5) : null,
    measured: BULK_SIZES.map((n) => `×${n}: on ${pct(ratios[n].on)}, off ${pct(ratios[n].off)}`).join('; '),
  });
}

async function sectionFrontend(): Promise<void> {
  log('section 3: frontend traffic (single scoreApplication) on one replica');
  const configs: ServerConfig[] = [
    { key: 'window-0', label: 'process batcher, window 0', kind: 'api', env: { BATCH_WINDOW_MS: '0' } },
    { key: 'window-1', label: 'process batcher, window 1 ms (default)', kind: 'api', env: { BATCH_WINDOW_MS: '1' } },
    { key: 'window-2', label: 'process batcher, window 2 ms', kind: 'api', env: { BATCH_WINDOW_MS: '2' } },
    { key: 'per-request', label: 'BATCH_SCOPE=request, window 1 ms (no cross-request batching)', kind: 'api', env: { BATCH_SCOPE: 'request', BATCH_WINDOW_MS: '1' } },
    { key: 'audit-off', label: 'window 1 ms, AUDIT=off', kind: 'api', env: { AUDIT: 'off', BATCH_WINDOW_MS: '1' } },
  ];
  const servers = fleet(configs, [single(1)]);
  const series: Series = {};
  try {
    await servers.start();
    for (const connections of FRONTEND_CONNECTIONS) {
      const shape = single(connections);
      const here = configs.filter((c) => c.key !== 'audit-off' || connections === 64);
      for (let r = 0; r < (connections === 64 ? TARGET_RUNS : RUNS); r++) {
        for (const c of rotate(here, r)) {
          const m = await servers.measure(c, shape);
          record(series, c.key, shape.key, m);
          log(`  c${connections} ${c.key} run ${r + 1}: ${int(m.requestsPerSecond)} req/s, p99 ${ms(m.latency.p99)} ms, others ${m.foreignCores.toFixed(2)} cores`);
        }
      }
    }
  } finally {
    await servers.stop();
  }
  const anyBatch = Object.values(series).some((s) => Object.values(s).some((runs) => runs.some((m) => m.meanBatchSize !== null)));
  noMetrics ||= !anyBatch;
  json.frontend = { configs, connections: FRONTEND_CONNECTIONS, series, failed: failures(series) };

  const rows: string[] = [];
  for (const connections of FRONTEND_CONNECTIONS) {
    const key = single(connections).key;
    const base = med(series['per-request']?.[key], rps);
    for (const c of configs) {
      const runs = series[c.key]?.[key];
      if (!runs) continue;
      rows.push(
        `| ${connections} | ${c.label} | ${spread(runs, rps)} | ${ms(med(runs, p50))} | ${ms(med(runs, p99))} | ${batchCell(runs)} | ${c.key === 'per-request' ? '1.00× (baseline)' : x(med(runs, rps) / base)} |`,
      );
    }
  }
  summary.push(
    '### 3. Frontend traffic: single `scoreApplication` on one replica',
    '',
    `Closed loop, median (min–max) of ${RUNS} × ${DURATION_S} s per point (${TARGET_RUNS} at 64 connections); audit on unless stated. Mean batch = applications per model run from`,
    `the /metrics batch-size histogram (Δ_sum / Δ_count over the run)${anyBatch ? '' : ': **n/a, the server has no /metrics batch-size histogram yet**'}.`,
    '',
    '| connections | configuration | requests/s | p50 ms | p99 ms | mean batch | ÷ per-request |',
    '|---:|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  );
  const k64 = single(64).key;
  const batched = series['window-1']?.[k64];
  const perRequest = series['per-request']?.[k64];
  const ratio = med(batched, rps) / med(perRequest, rps);
  const p99b = med(batched, p99);
  const p99r = med(perRequest, p99);
  // runs are interleaved round by round, so round r of one configuration is paired with round r of the other
  const paired = (batched ?? []).map((m, i) => (perRequest?.[i] ? m.requestsPerSecond / perRequest[i].requestsPerSecond : NaN)).filter(Number.isFinite);
  targets.push({
    name: 'Batching across requests at 64 connections ≥ 1.5× the per-request loader, p99 no worse (window 1 ms)',
    pass: Number.isFinite(ratio) ? ratio >= 1.5 && p99b <= p99r : null,
    measured:
      `${x(ratio)} requests/s (${int(med(batched, rps))} vs ${int(med(perRequest, rps))}); p99 ${ms(p99b)} ms vs ${ms(p99r)} ms; ` +
      `round by round ${paired.map((v) => v.toFixed(2)).join(', ')}: ${paired.filter((v) => v >= 1.5).length} of ${paired.length} rounds ≥ 1.5×`,
  });
}

/** Whether the seed can be measured in this invocation (and if not, why); set in main() before the sections. */
let seedStatus: SeedAvailability | undefined;
/** Why the seed was not measured, once known: said in the output, the targets and BENCHMARKS.md. */
let seedNotMeasured: string | undefined;

async function sectionCluster(): Promise<void> {
  log(`section 4: nginx + ${CLUSTER.replicas} replicas${seedStatus?.available ? ", beside the seed's design" : ''}`);
  const runDir = tempDir('cluster');
  const dataDir = tempDir('cluster-data');
  let cluster: Cluster | undefined;
  let seed: Seed | undefined;
  const series: Series = {};
  const shapes = [single(64), bulk(100, CLUSTER_BULK_CONNECTIONS)];
  const env = apiEnv({ DATA_DIR: dataDir });
  delete env.REPLICA_ID;
  const stopCluster = async () => {
    if (!cluster) return;
    await cluster.stop();
    for (const p of [cluster.nginx, ...cluster.replicas]) unregisterPid(p.pid);
    cluster = undefined;
  };
  const stopSeed = async () => {
    await seed?.stop();
    seed = undefined;
  };
  const start = async () => {
    cluster = await startCluster({
      replicas: CLUSTER.replicas,
      basePort: CLUSTER.basePort,
      metricsBasePort: CLUSTER.metricsBasePort,
      port: CLUSTER.nginxPort,
      runDir,
      build: 'never',
      entry: serverEntry,
      env,
      log: (l) => log(`  [cluster] ${l.replaceAll(runDir, '<temp run dir>')}`),
    });
    for (const p of [cluster.nginx, ...cluster.replicas]) registerPid(p.pid);
    for (const shape of shapes) await verify(target(), shape);
  };
  const startTheSeed = async (dir: string) => {
    seed = await startSeed(dir, (l) => log(`  [seed] ${l}`));
    for (const shape of shapes) await verify(seedTarget(), shape);
  };
  const target = (): Target => {
    const c = cluster!;
    return {
      url: c.url,
      kind: 'api',
      pids: c.replicas.map((r) => r.pid),
      helperPids: [c.nginx.pid],
      metricsUrls: c.replicas.map((r) => r.metricsUrl),
      gone: () => {
        const dead = [c.nginx, ...c.replicas].filter((p) => p.exit);
        return dead.length ? dead.map((p) => `cluster pid ${p.pid} exited: code ${p.exit!.code}, signal ${p.exit!.signal}`).join('; ') : undefined;
      },
    };
  };
  const seedTarget = (): Target => {
    const sd = seed!;
    return { url: sd.url, kind: 'seed', pids: sd.replicas.map((r) => r.pid), helperPids: [sd.nginx.pid], metricsUrls: [], gone: sd.gone };
  };
  // a replica or nginx gone: that whole system is stopped and started again
  const budget = { left: RESTARTS_PER_SECTION };
  const revive = async () => {
    await stopCluster();
    await start();
  };
  const reviveSeed = async () => {
    await stopSeed();
    if (seedStatus?.available) await startTheSeed(seedStatus.dir);
  };
  const systems: Array<'cluster' | 'seed'> = ['cluster'];
  try {
    await start();
    if (seedStatus?.available) {
      try {
        await startTheSeed(seedStatus.dir);
        systems.push('seed');
      } catch (error) {
        await stopSeed();
        seedNotMeasured = `it did not start or did not answer as expected: ${(error as Error).message.split('\n').slice(0, 3).join(' ')}`;
        log(`  ! the seed is not measured: ${seedNotMeasured}`);
      }
    }
    for (let r = 0; r < TARGET_RUNS; r++) {
      for (const shape of rotate(shapes, r)) {
        // rounds alternate which of the two goes first, so drift on a noisy machine falls on both
        for (const system of rotate(systems, r)) {
          const m =
            system === 'seed'
              ? await retrying(budget, reviveSeed, () => measure(seedTarget(), shape))
              : await retrying(budget, revive, () => measure(target(), shape));
          record(series, system, shape.key, m);
          log(
            `  ${system} ${shape.key} run ${r + 1}: ${int(m.requestsPerSecond)} req/s, ${int(m.applicationsPerSecond)} apps/s, ` +
              `p99 ${ms(m.latency.p99)} ms, over 2 s ${m.over2s}, others ${m.foreignCores.toFixed(2)} cores`,
          );
        }
      }
    }
  } finally {
    await stopCluster();
    await stopSeed();
    removeTempDir(runDir);
    removeTempDir(dataDir);
  }
  const seedMeasured = systems.includes('seed');
  json.cluster = { ...CLUSTER, bulkConnections: CLUSTER_BULK_CONNECTIONS, series, failed: failures(series) };
  const s = series.cluster?.[shapes[0].key];
  const b = series.cluster?.[shapes[1].key];
  const ss = series.seed?.[shapes[0].key];
  const sb = series.seed?.[shapes[1].key];
  const rssMax = Math.max(...[...(s ?? []), ...(b ?? [])].flatMap((m) => m.rssMaxMB));
  const seedRssMax = Math.max(...[...(ss ?? []), ...(sb ?? [])].flatMap((m) => m.rssMaxMB));
  json.clusterRssMaxMB = rssMax;
  const total = (runs: Measured[] | undefined, f: (m: Measured) => number) => (runs ?? []).reduce((a, m) => a + f(m), 0);
  const maxLatency = (runs: Measured[] | undefined) => (runs?.length ? Math.max(...runs.map((m) => m.latency.max)) : NaN);
  /** runs are interleaved round by round, so round i of ours is paired with round i of the seed */
  const paired = (ours: Measured[] | undefined, theirs: Measured[] | undefined, f: (m: Measured) => number) =>
    (ours ?? []).map((m, i) => (theirs?.[i] ? f(m) / f(theirs[i]) : NaN)).filter(Number.isFinite);
  const row = (system: string, load: string, runs: Measured[] | undefined, primary: 'rps' | 'aps', seedRuns: Measured[] | undefined) =>
    `| ${system} | ${load} | ${primary === 'rps' ? spread(runs, rps) : int(med(runs, rps))} | ${primary === 'aps' ? spread(runs, aps) : int(med(runs, aps))} | ` +
    `${ms(med(runs, p50))} | ${ms(med(runs, p99))} | ${ms(maxLatency(runs))} | ${total(runs, (m) => m.over2s)} | ${total(runs, (m) => m.failed)} | ${batchCell(runs)} | ` +
    `${seedRuns === runs ? (seedMeasured ? '1.00× (baseline)' : '') : seedMeasured ? x(med(runs, primary === 'rps' ? rps : aps) / med(seedRuns, primary === 'rps' ? rps : aps)) : 'n/a'} |`;
  summary.push(
    `### 4. The cluster: nginx + ${CLUSTER.replicas} replicas (scripts/cluster.ts), audit on, one shared SQLite file, beside the seed`,
    '',
    seedMeasured
      ? `Median (min–max) of ${TARGET_RUNS} × ${DURATION_S} s per system and load, the seed's rounds alternating with ours. The seed: ${seedDescription()}, ` +
          'sent the same applications in its field names (one to `POST /predict`, the bulk as a JSON list to `POST /predict_batch`); ' +
          'it answers `{approved, probability}` only (no reasons, policy, audit or idempotency).'
      : `Median (min–max) of ${TARGET_RUNS} × ${DURATION_S} s. **The seed was not measured in this run: ${seedNotMeasured ?? 'unknown reason'}**, so there is no "÷ seed".`,
    '',
    '| system | load | requests/s | applications/s | p50 ms | p99 ms | max ms | over 2 s | failed | mean batch | ÷ seed |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    row('ours', 'single, 64 connections', s, 'rps', ss),
    ...(seedMeasured ? [row('seed', 'single, 64 connections', ss, 'rps', ss)] : []),
    row('ours', `bulk of 100, ${CLUSTER_BULK_CONNECTIONS} connections`, b, 'aps', sb),
    ...(seedMeasured ? [row('seed', `bulk of 100, ${CLUSTER_BULK_CONNECTIONS} connections`, sb, 'aps', sb)] : []),
    '',
    `Largest replica RSS during these runs: ours ${mb(rssMax)} MB${seedMeasured ? `, the seed's ${mb(seedRssMax)} MB` : ''}. "over 2 s": responses slower than 2 s (wrk's default time-out) plus time-outs, summed over the runs.`,
    '',
  );

  const singleRps = med(s, rps);
  const singleRatio = singleRps / med(ss, rps);
  const singleP99 = med(s, p99);
  const bulkAps = med(b, aps);
  const bulkRatio = bulkAps / med(sb, aps);
  const bulkP99 = med(b, p99);
  const seedBulkP99 = med(sb, p99);
  const bulkSlow = total(b, (m) => m.over2s) + total(b, (m) => m.failed);
  const rounds = (ratios: number[], factor: number) =>
    `round by round ${ratios.map((v) => v.toFixed(1)).join(', ')}: ${ratios.filter((v) => v >= factor).length} of ${ratios.length} rounds ≥ ${factor}×`;
  const notMeasured = `; **the seed was not measured: ${seedNotMeasured ?? 'unknown reason'}**`;
  json.seed = {
    measured: seedMeasured,
    reason: seedMeasured ? undefined : seedNotMeasured,
    // relative to the repository: no path of this machine in the results
    dir: seedStatus ? path.relative(root, seedStatus.dir) : undefined,
    versions: seedStatus?.available ? seedStatus.versions : undefined,
    rssMaxMB: seedMeasured ? seedRssMax : undefined,
  };
  targets.push(
    {
      name: `Cluster single requests at 64 connections ≥ ${SEED_TARGETS.singleFactor}× the seed's requests/s, p99 < ${SEED_TARGETS.singleP99Ms} ms`,
      pass: seedMeasured && Number.isFinite(singleRatio) ? singleRatio >= SEED_TARGETS.singleFactor && singleP99 < SEED_TARGETS.singleP99Ms : null,
      measured: seedMeasured
        ? `${int(singleRps)} vs the seed's ${int(med(ss, rps))} requests/s (${x(singleRatio)}); p99 ${ms(singleP99)} ms (the seed's ${ms(med(ss, p99))} ms); ` +
          rounds(paired(s, ss, rps), SEED_TARGETS.singleFactor)
        : `${int(singleRps)} requests/s, p99 ${ms(singleP99)} ms${notMeasured}`,
    },
    {
      name: `Cluster bulk of 100 at ${CLUSTER_BULK_CONNECTIONS} connections ≥ ${SEED_TARGETS.bulkFactor}× the seed's applications/s, no request over 2 s, p99 below the seed's`,
      pass:
        seedMeasured && Number.isFinite(bulkRatio)
          ? bulkRatio >= SEED_TARGETS.bulkFactor && bulkSlow === 0 && bulkP99 < seedBulkP99
          : null,
      measured: seedMeasured
        ? `${int(bulkAps)} vs the seed's ${int(med(sb, aps))} applications/s (${x(bulkRatio)}); ` +
          `requests over 2 s or failed: ${bulkSlow} (the seed's ${total(sb, (m) => m.over2s) + total(sb, (m) => m.failed)}); ` +
          `p99 ${ms(bulkP99)} ms vs ${ms(seedBulkP99)} ms; ` +
          rounds(paired(b, sb, aps), SEED_TARGETS.bulkFactor)
        : `${int(bulkAps)} applications/s, p99 ${ms(bulkP99)} ms, requests over 2 s or failed: ${bulkSlow}${notMeasured}`,
    },
  );
}

function seedDescription(): string {
  const v = seedStatus?.available ? seedStatus.versions : undefined;
  return (
    `FastAPI${v ? ` ${v.fastapi}` : ''} + scikit-learn${v ? ` ${v.sklearn}` : ''} on Python${v ? ` ${v.python}` : ''}, three uvicorn${v ? ` ${v.uvicorn}` : ''} ` +
    `replicas behind nginx, started by its own run.sh from \`${seedStatus ? path.relative(root, seedStatus.dir) : '?'}\` and stopped by the pids it saved`
  );
}

async function sectionMemory(): Promise<void> {
  log('section 5: memory and start-up');
  const starts = QUICK ? 1 : 3;
  const samples: Array<{ readyMs: number; idleMB: number; singleMaxMB: number; bulkMaxMB: number; single: Measured; bulk: Measured }> = [];
  const budget = { left: RESTARTS_PER_SECTION };
  // a start whose server dies from outside is done again from the spawn
  for (let i = 0; i < starts; i++) await retrying(budget, async () => {}, () => oneStart(i));

  async function oneStart(i: number): Promise<void> {
    const server = await startServer({ key: `memory-${i + 1}`, label: `API default config (start ${i + 1})`, kind: 'api' });
    try {
      const target: Target = { url: server.url, kind: 'api', pids: [server.pid], metricsUrls: [], gone: goneOf([server]) };
      await new Promise((r) => setTimeout(r, QUICK ? 300 : 1_000));
      const idleMB = rssMB(server.pid) ?? NaN;
      // sampled over the warm-up run too: the peak can come with the first load
      let sampler = sampleRss([server.pid]);
      const s = await measure(target, single(64));
      const singleMaxMB = sampler.stop()[server.pid] ?? NaN;
      sampler = sampleRss([server.pid]);
      const b = await measure(target, bulk(1000, BULK_CONNECTIONS));
      const bulkMaxMB = sampler.stop()[server.pid] ?? NaN;
      samples.push({ readyMs: server.readyMs, idleMB, singleMaxMB, bulkMaxMB, single: s, bulk: b });
      log(`  start ${i + 1}: ready ${server.readyMs.toFixed(0)} ms, idle ${mb(idleMB)} MB, single-64 max ${mb(singleMaxMB)} MB, bulk-1000 max ${mb(bulkMaxMB)} MB`);
    } finally {
      await stopServer(server);
    }
  }
  json.memory = { samples };
  const readyMs = median(samples.map((s) => s.readyMs));
  const idle = median(samples.map((s) => s.idleMB));
  const singleMax = median(samples.map((s) => s.singleMaxMB));
  const bulkMax = median(samples.map((s) => s.bulkMaxMB));
  const worst = Math.max(...samples.flatMap((s) => [s.idleMB, s.singleMaxMB, s.bulkMaxMB]), (json.clusterRssMaxMB as number | undefined) ?? -Infinity);
  summary.push(
    '### 5. Memory and start-up (one replica, default configuration)',
    '',
    `VmRSS from /proc/<pid>/status, sampled every 100 ms; median of ${starts} fresh start(s). "Under load" = the largest sample during`,
    `the warm-up and the ${DURATION_S} s run of that load.`,
    '',
    '| spawn → /ready 200 | RSS idle (after ready + 1 s) | RSS max, single at 64 connections | RSS max, bulk of 1,000 at 8 connections | largest RSS seen (incl. cluster replicas) |',
    '|---:|---:|---:|---:|---:|',
    `| ${int(readyMs)} ms | ${mb(idle)} MB | ${mb(singleMax)} MB | ${mb(bulkMax)} MB | ${mb(worst)} MB |`,
    '',
  );
  targets.push({
    name: 'One replica < 120 MB resident idle, < 250 MB under 8 concurrent 1,000-application requests',
    pass: Number.isFinite(idle) && Number.isFinite(bulkMax) ? idle < 120 && bulkMax < 250 : null,
    measured: `idle ${mb(idle)} MB, bulk of 1,000 at 8 connections ${mb(bulkMax)} MB (largest seen anywhere ${mb(worst)} MB)`,
  });
}

/** Section 6: the reasons of the committed model over the 10,000 held-out rows (values, not speed). */
async function sectionReasons(): Promise<void> {
  log('section 6: reasons over the held-out rows');
  const applications = heldOutApplications();
  const model = await ScoringModel.create(path.join(root, 'models/loan-default-lr-1.0.0'));
  const decisionPolicy = { ...loadPolicy(path.join(root, 'policy/policy.json'), path.join(root, 'policy/reason-codes.json')), thresholds: {} };
  let adverse = 0;
  let adverseCitingForeign = 0;
  let foreign = 0;
  try {
    for (let start = 0; start < applications.length; start += 500) {
      const slice = applications.slice(start, start + 500);
      const scored = await model.score(slice);
      scored.forEach((s, i) => {
        const decision = decisionFrom(slice[i], s, decisionPolicy);
        const codes = foreignCategories(slice[i], decision);
        foreign += codes.length;
        if (decision.outcome !== 'APPROVE') {
          adverse++;
          if (codes.length > 0) adverseCitingForeign++;
        }
      });
    }
  } finally {
    await model.release();
  }
  json.reasons = { rows: applications.length, adverse, adverseCitingForeign, foreign };
  summary.push(
    '### 6. Reasons over the held-out rows',
    '',
    `The ${int(applications.length)} held-out rows of \`data/\` (the trainer's split), decided by the committed model and policy:`,
    `${int(adverse)} REFER/DECLINE, of which ${int(adverseCitingForeign)} cite a category the applicant is not in (${int(foreign)} such reasons in all).`,
    '',
  );
  targets.push({
    name: 'Reasons: 0 categories cited that the applicant is not in, over the 10,000 held-out rows',
    pass: foreign === 0,
    measured: `${int(foreign)} of ${int(adverse)} adverse decisions' reasons`,
  });
}

/** The challenger section 7 runs beside the served model: retrained on another synthetic book (models/README.md). */
const CHALLENGER_SUPPORTED = true;
const CHALLENGER_ENV = { CHALLENGER_MODEL_DIR: 'models/loan-default-lr-1.1.0' };
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system, every thread) a process has used so far, s. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * Section 7: what watching costs. In this process, `ScoringModel.score` of 100 applications with and without a drift
 * monitor, rounds alternating. Over HTTP, the bulk of 100 at 8 connections on one replica, MONITOR=off beside
 * MONITOR=on (and with a challenger), AUDIT=off so that the audit's fsync does not hide a cost, rounds interleaved;
 * the targets are judged on the server's CPU time per application, which other work on the machine moves far less
 * than throughput.
 */
async function sectionWatch(): Promise<void> {
  log('section 7: drift monitoring (and the challenger) on the bulk of 100');
  const book = generateLoanBook(100, 11).map((r) => r.application);
  const dir = path.join(root, 'models/loan-default-lr-1.0.0');
  const plain = await ScoringModel.create(dir);
  const watched = await ScoringModel.create(dir, { monitor: { window: 10_000 } });
  // CPU time of this process (all threads) per application, ns: other work on the machine moves it far less than
  // wall-clock time
  const cpuPerApplication = async (run: () => unknown, calls: number) => {
    const before = process.cpuUsage();
    for (let i = 0; i < calls; i++) await run();
    const used = process.cpuUsage(before);
    return ((used.user + used.system) * 1000) / (calls * book.length);
  };
  const matrix = encode(book, watched.features);
  const probabilities = Float32Array.from(book, (_, i) => (i % 40) / 100);
  const counting = new DriftMonitor('bench', watched.manifest.profile, watched.features, { window: 10_000 });
  const inProcess: Record<'off' | 'on' | 'observe', number[]> = { off: [], on: [], observe: [] };
  try {
    const calls = QUICK ? 200 : 2000;
    await cpuPerApplication(() => plain.score(book), calls);
    await cpuPerApplication(() => watched.score(book), calls);
    for (let r = 0; r < TARGET_RUNS; r++) {
      for (const [key, model] of rotate([['off', plain], ['on', watched]] as const, r)) {
        inProcess[key].push(await cpuPerApplication(() => model.score(book), calls));
      }
      inProcess.observe.push(await cpuPerApplication(() => counting.observeBatch(matrix, watched.features.length, probabilities, 0, book.length), calls * 10));
    }
  } finally {
    await Promise.all([plain.release(), watched.release()]);
  }
  log(`  CPU ns/application: ScoringModel.score × 100 off ${int(median(inProcess.off))}, on ${int(median(inProcess.on))}; observeBatch alone ${int(median(inProcess.observe))}`);

  const configs: ServerConfig[] = [
    { key: 'monitor-off', label: 'MONITOR=off', kind: 'api', env: { AUDIT: 'off', MONITOR: 'off' } },
    { key: 'monitor-on', label: 'MONITOR=on (default)', kind: 'api', env: { AUDIT: 'off', MONITOR: 'on' } },
    ...(CHALLENGER_SUPPORTED
      ? [{ key: 'challenger', label: 'MONITOR=on, with a challenger', kind: 'api' as const, env: { AUDIT: 'off', MONITOR: 'on', ...CHALLENGER_ENV } }]
      : []),
  ];
  const shape = bulk(100, BULK_CONNECTIONS);
  // Beside throughput, each server's own CPU time per application (utime + stime from /proc, all its threads): on a
  // shared 2-core machine the throughput of one run moves with other people's work, its CPU cost far less.
  const servers = new Map<string, BenchProcess>();
  const targetOf = (c: ServerConfig): Target => {
    const s = servers.get(c.key)!;
    return { url: s.url, kind: 'api', pids: [s.pid], metricsUrls: [s.metricsUrl], gone: goneOf([s]) };
  };
  const series: Series = {};
  const cpuMicros: Record<string, number[]> = {};
  try {
    for (const c of configs) {
      servers.set(c.key, await startServer(c));
      await verify(targetOf(c), shape);
      await measure(targetOf(c), shape); // calibration and a warm-up run, not recorded
    }
    for (let r = 0; r < TARGET_RUNS; r++) {
      for (const c of rotate(configs, r)) {
        const pid = servers.get(c.key)!.pid;
        const before = cpuSeconds(pid);
        const m = await measure(targetOf(c), shape);
        const perApplication = ((cpuSeconds(pid) - before) * 1e6) / (m.ok * shape.items);
        record(series, c.key, shape.key, m);
        (cpuMicros[c.key] ??= []).push(perApplication);
        log(`  ${shape.key} ${c.key} run ${r + 1}: ${int(m.applicationsPerSecond)} apps/s, ${perApplication.toFixed(2)} µs CPU/application, p99 ${ms(m.latency.p99)} ms, others ${m.foreignCores.toFixed(2)} cores`);
      }
    }
  } finally {
    await Promise.all([...servers.values()].map(stopServer));
  }
  const runsOf = (key: string) => series[key]?.[shape.key];
  /** round r of `a` over round r of `b` (interleaved, so paired) */
  const paired = (a: string, b: string) =>
    (runsOf(a) ?? []).map((m, i) => (runsOf(b)?.[i] ? m.applicationsPerSecond / runsOf(b)![i].applicationsPerSecond : NaN)).filter(Number.isFinite);
  const off = med(runsOf('monitor-off'), aps);
  const on = med(runsOf('monitor-on'), aps);
  const challenger = med(runsOf('challenger'), aps);
  const cpuOf = (key: string) => (cpuMicros[key]?.length ? median(cpuMicros[key]) : NaN);
  /** extra CPU per application of `a` over `b`, the cost the targets are judged on */
  const cpuCost = (a: string, b: string) => cpuOf(a) / cpuOf(b) - 1;
  const cpuRounds = (a: string, b: string) => (cpuMicros[a] ?? []).map((v, i) => v / (cpuMicros[b]?.[i] ?? NaN)).filter(Number.isFinite);
  const monitorCost = cpuCost('monitor-on', 'monitor-off');
  const challengerCost = cpuCost('challenger', 'monitor-on');
  const modelCost = median(inProcess.on) / median(inProcess.off) - 1;
  /** the counting alone, as a share of what an application of the bulk costs the server without monitoring */
  const countingShare = median(inProcess.observe) / (cpuOf('monitor-off') * 1000);
  json.watch = { connections: BULK_CONNECTIONS, configs, series, cpuMicros, inProcess, failed: failures(series), challengerSupported: CHALLENGER_SUPPORTED };
  summary.push(
    '### 7. Watching: drift monitoring and the challenger on the bulk of 100',
    '',
    `In this process, CPU time per application (user + system, all threads), median of ${TARGET_RUNS} rounds: \`ScoringModel.score\` of 100 synthetic`,
    `applications (explanation rows included) ${int(median(inProcess.off))} ns without a monitor, ${int(median(inProcess.on))} ns with one (${pct(modelCost)});`,
    `\`DriftMonitor.observeBatch\` alone on the same 100 encoded rows ${int(median(inProcess.observe))} ns, ${pct(countingShare)} of the CPU an application of the bulk below costs the server without monitoring.`,
    '',
    `One replica, \`scoreApplications\` × 100 at ${BULK_CONNECTIONS} connections, AUDIT=off (the audit's fsync would hide the cost), median (min–max) of ${TARGET_RUNS} × ${DURATION_S} s, interleaved;`,
    "CPU = the server process's user + system time (all threads) over the applications it answered in the run:",
    '',
    '| server | applications/s | ÷ MONITOR=off | CPU µs/application | ÷ MONITOR=off | p50 ms | p99 ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...configs.map(
      (c) =>
        `| ${c.label} | ${spread(runsOf(c.key), aps)} | ${x(med(runsOf(c.key), aps) / off)} | ${cpuOf(c.key).toFixed(2)} (${Math.min(...(cpuMicros[c.key] ?? [NaN])).toFixed(2)}–${Math.max(...(cpuMicros[c.key] ?? [NaN])).toFixed(2)}) | ${x(cpuOf(c.key) / cpuOf('monitor-off'))} | ${ms(med(runsOf(c.key), p50))} | ${ms(med(runsOf(c.key), p99))} |`,
    ),
    ...(CHALLENGER_SUPPORTED ? [] : ['| with a challenger | not measured: CHALLENGER_MODEL_DIR is not in this build | | | | | |']),
    '',
  );
  targets.push({
    name: 'Drift monitoring costs < 5 % of the bulk of 100 (one replica, AUDIT=off; server CPU per application)',
    pass: Number.isFinite(monitorCost) ? monitorCost < 0.05 : null,
    measured:
      `${pct(monitorCost)} more CPU per application (${cpuOf('monitor-on').toFixed(2)} vs ${cpuOf('monitor-off').toFixed(2)} µs; round by round ${cpuRounds('monitor-on', 'monitor-off').map((v) => v.toFixed(3)).join(', ')}); ` +
      `throughput ${x(on / off)} (${int(on)} vs ${int(off)} applications/s, round by round ${paired('monitor-on', 'monitor-off').map((v) => v.toFixed(2)).join(', ')}); ` +
      `ScoringModel.score × 100 alone: ${pct(modelCost)}; the counting alone: ${int(median(inProcess.observe))} ns an application, ${pct(countingShare)} of the bulk's`,
  });
  targets.push({
    name: 'A challenger costs < 35 % of the bulk of 100 (one replica, AUDIT=off, monitoring on; server CPU per application)',
    pass: Number.isFinite(challengerCost) ? challengerCost < 0.35 : null,
    measured: CHALLENGER_SUPPORTED
      ? `${pct(challengerCost)} more CPU per application (round by round ${cpuRounds('challenger', 'monitor-on').map((v) => v.toFixed(3)).join(', ')}); throughput ${x(challenger / on)} (${int(challenger)} vs ${int(on)} applications/s)`
      : 'not measured: CHALLENGER_MODEL_DIR is not in this build (bench/run.ts, CHALLENGER SLOT)',
  });
}

// ---------------------------------------------------------------------------------------------------------------

function auditTarget(): void {
  const bulkSeries = (json.bulk as { series: Series } | undefined)?.series;
  const frontSeries = (json.frontend as { series: Series } | undefined)?.series;
  const rows: Array<{ name: string; on?: Measured[]; off?: Measured[]; f: (m: Measured) => number }> = [];
  if (bulkSeries) {
    for (const n of BULK_SIZES) {
      const key = bulk(n, BULK_CONNECTIONS).key;
      rows.push({ name: `bulk ×${n}, applications/s`, on: bulkSeries['api-audit-on']?.[key], off: bulkSeries['api-audit-off']?.[key], f: aps });
    }
  }
  if (frontSeries) {
    const key = single(64).key;
    rows.push({ name: 'single at 64 connections, requests/s', on: frontSeries['window-1']?.[key], off: frontSeries['audit-off']?.[key], f: rps });
  }
  if (rows.length === 0) return;
  const cost = (r: (typeof rows)[number]) => 1 - med(r.on, r.f) / med(r.off, r.f);
  /** the two sets of runs overlap: this many runs cannot tell them apart */
  const overlap = (r: (typeof rows)[number]) =>
    !!r.on?.length && !!r.off?.length && Math.max(...r.on.map(r.f)) >= Math.min(...r.off.map(r.f));
  summary.push(
    '### Audit trail: AUDIT=on beside AUDIT=off (same invocation)',
    '',
    '| load | audit on | audit off | on ÷ off | cost |',
    '|---|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${spread(r.on, r.f)} | ${spread(r.off, r.f)} | ${x(1 - cost(r))} | ${pct(cost(r))}${overlap(r) ? ' (ranges overlap)' : ''} |`),
    '',
    `AUDIT_SYNC=full (each batch's commit is fsynced) on ${(json.environment as { dataDirFilesystem: string }).dataDirFilesystem} (the OS temp dir).`,
    '',
  );
  targets.push({
    name: 'The audit trail costs < 25 % of throughput',
    pass: rows.every((r) => Number.isFinite(cost(r))) ? rows.every((r) => cost(r) < 0.25) : null,
    measured: rows.map((r) => `${r.name.split(',')[0]}: ${pct(cost(r))}${overlap(r) ? ' (runs overlap)' : ''}`).join(', '),
  });
}

function header(env: ReturnType<typeof environment>, totalS: number, loadEnd: number[]): string[] {
  const dirty = env.srcUncommitted.length
    ? ` + uncommitted changes to ${env.srcUncommitted.length} file(s) under src/ (${env.srcUncommitted.join(', ')}): the servers were built from the working tree`
    : '';
  return [
    `## Latest run: ${benchStarted.toISOString().slice(0, 16).replace('T', ' ')} UTC${QUICK ? ' (--quick: 1 run of 1 s per point, smoke only)' : ''}`,
    '',
    `- machine: ${env.cpuModel}, ${env.cores} cores, ${env.memoryGB} GB, ${env.platform}`,
    `- Node ${env.node}, onnxruntime-node ${env.onnxruntime}, autocannon ${env.autocannon}, nginx ${env.nginx}`,
    `- git commit ${env.gitCommit.slice(0, 12)} (${env.gitCommitSubject})${dirty}; servers run a snapshot of dist/ compiled ${env.distBuiltAt.slice(0, 19).replace('T', ' ')} UTC`,
    `- load average (1 min) ${env.loadAverageAtStart[0].toFixed(2)} at the start, ${loadEnd[0].toFixed(2)} at the end; other processes of the machine (not the servers, nginx or the bench) kept ${foreign.length ? `${median(foreign).toFixed(2)} cores busy (median over runs; max ${Math.max(...foreign).toFixed(2)})` : 'n/a'} of ${env.cores} during the timed runs; the load generator (autocannon) runs on the same cores as the servers`,
    ...(restarts.length
      ? [
          `- **${restarts.length} time(s) a server under test exited without the bench asking** (${[...new Set(unexpectedExits.map((e) => `exit code ${e.code}, signal ${e.signal}`))].join('; ')}; code 0 is the servers' own SIGTERM/SIGINT shutdown, i.e. a signal from outside the bench); it was restarted and the run it cut short repeated, so every recorded run is complete`,
        ]
      : []),
    `- ${RUNS} run(s) (${TARGET_RUNS} for the points a target is judged on: single requests at 64 connections, the cluster) of about ${DURATION_S} s per point (each a fixed number of requests, a whole number of rounds per connection, sized from the previous run), after an unrecorded ${WARMUP_S} s warm-up run per load shape and server; configurations interleaved; ${totalS.toFixed(0)} s in all; sections: ${opts.only.join(', ')}`,
    '',
    !opts.only.includes('cluster')
      ? "The seed's design is measured only with the cluster (section 4), which this run left out."
      : seedNotMeasured === undefined && !(json.seed as { measured?: boolean } | undefined)?.measured
        ? "The seed's design was not measured: the cluster section (section 4) did not complete."
        : seedNotMeasured === undefined
        ? `The seed's design (${seedDescription()}) was measured in this invocation on the same loads, its rounds alternating with ours (section 4): the cluster targets are ratios to it.`
        : `**The seed's design was not measured in this run: ${seedNotMeasured}.** The cluster targets, ratios to it, read "not measured"; no remembered numbers stand in for it.`,
    '',
  ];
}

async function updateBenchmarksMd(markdown: string): Promise<void> {
  const file = path.join(root, 'BENCHMARKS.md');
  const start = '<!-- bench:summary:start (written by npm run bench; edit outside these markers) -->';
  const end = '<!-- bench:summary:end -->';
  const block = `${start}\n${markdown.trim()}\n${end}`;
  let text = existsSync(file) ? await readFile(file, 'utf8') : '# Benchmarks\n\n`npm run bench` (see bench/run.ts) writes the section below.\n\n';
  const a = text.indexOf('<!-- bench:summary:start');
  const b = text.indexOf(end);
  text = a >= 0 && b > a ? `${text.slice(0, a)}${block}${text.slice(b + end.length)}` : `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(file, text);
}

async function main(): Promise<void> {
  ensureBuild(root, 'auto', undefined, (l) => log(l));
  // the snapshot is taken under the build lock, so never from a half-written dist/
  const snapshot = path.join('run', `bench-dist-${process.pid}`);
  registerTempDir(path.join(root, snapshot));
  withBuildLock(root, () => cpSync(path.join(root, 'dist'), path.join(root, snapshot), { recursive: true }));
  serverEntry = path.join(snapshot, 'src', 'server.js');
  const env = environment();
  json.environment = env;
  log(`${env.cpuModel}, ${env.cores} cores, Node ${env.node}, ORT ${env.onnxruntime}, commit ${env.gitCommit.slice(0, 12)}${env.srcUncommitted.length ? ' (src modified)' : ''}`);
  log(`sections: ${opts.only.join(', ')}${QUICK ? ' (quick)' : ''}`);
  if (opts.only.includes('cluster')) {
    if (!opts.seed) seedNotMeasured = '--no-seed was given';
    else {
      seedStatus = await seedAvailability(root);
      if (!seedStatus.available) seedNotMeasured = seedStatus.reason;
    }
    log(seedNotMeasured === undefined ? `the seed: ${path.relative(root, seedStatus!.dir)}, measured with the cluster` : `the seed will NOT be measured: ${seedNotMeasured}`);
  }
  const run: Record<Section, () => Promise<void>> = {
    model: sectionModel,
    bulk: sectionBulk,
    frontend: sectionFrontend,
    cluster: sectionCluster,
    memory: sectionMemory,
    reasons: sectionReasons,
    watch: sectionWatch,
  };
  const aborted: Array<{ section: Section; error: string }> = [];
  for (const s of SECTIONS) {
    if (!opts.only.includes(s)) continue;
    try {
      await run[s]();
    } catch (error) {
      if (!(error instanceof ServerGone)) throw error;
      // the other sections can still run; this one reports nothing rather than numbers from a dead server
      aborted.push({ section: s, error: error.message });
      log(`section ${s} ABORTED: ${error.message}`);
      summary.push(`### Section "${s}": aborted`, '', `A server under test exited on its own: ${error.message}. No numbers from this section.`, '');
    }
  }
  json.aborted = aborted;
  json.restarts = restarts;
  json.unexpectedExits = unexpectedExits;
  auditTarget();

  const totalS = (performance.now() - t0) / 1000;
  const loadEnd = os.loadavg();
  const passCell = (p: boolean | null) => (p === null ? 'not measured' : p ? '**pass**' : '**FAIL**');
  const order = ['Partner bulk', 'Batching across', 'Each replica', 'The audit', 'Cluster single', 'Cluster bulk', 'Drift monitoring', 'A challenger'];
  targets.sort((a, b) => order.findIndex((o) => a.name.startsWith(o)) - order.findIndex((o) => b.name.startsWith(o)));
  const markdown = [
    ...header(env, totalS, loadEnd),
    '### Targets',
    '',
    '| target | measured (medians) | result |',
    '|---|---|---|',
    ...targets.map((t) => `| ${t.name} | ${t.measured} | ${passCell(t.pass)} |`),
    '',
    ...summary,
    noMetrics ? '_Mean batch size: n/a because the servers measured expose no `/metrics` batch-size histogram yet; the bench picks it up (any metric whose name contains `batch_size`, Δ_sum/Δ_count) once there is one._\n' : '',
  ].join('\n');

  const stamp = benchStarted.toISOString().replace(/[:.]/g, '-');
  const partial = opts.only.length < SECTIONS.length ? `-only-${opts.only.join('-')}` : '';
  const out = path.join('bench', 'results', `bench-${stamp}${QUICK ? '-quick' : ''}${partial}.json`);
  await mkdir(path.dirname(out), { recursive: true });
  json.options = { quick: QUICK, only: opts.only, seed: opts.seed, runs: RUNS, targetRuns: TARGET_RUNS, durationS: DURATION_S, warmupS: WARMUP_S, bulkConnections: BULK_CONNECTIONS, frontendConnections: FRONTEND_CONNECTIONS };
  json.baseline = BASELINE;
  json.seedTargets = SEED_TARGETS;
  json.targets = targets;
  json.startedAt = benchStarted.toISOString();
  json.totalSeconds = totalS;
  json.loadAverageAtEnd = loadEnd;
  json.foreignCoresPerRun = foreign;
  json.summaryMarkdown = markdown;
  await writeFile(out, `${JSON.stringify(json, null, 2)}\n`);

  console.log(`\n${markdown}`);
  console.log(`raw results: ${out}`);
  if (opts.md && aborted.length > 0) {
    console.log('BENCHMARKS.md left alone: a section was aborted');
  } else if (opts.md && !QUICK && partial === '') {
    await updateBenchmarksMd(markdown);
    console.log('BENCHMARKS.md updated');
  } else if (opts.md) {
    console.log('BENCHMARKS.md left alone (quick or partial run)');
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
