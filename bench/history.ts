/**
 * The decision history's paging cost (issue 13): 100,000 decisions in a real trail, scored by the real model, then
 * `decisions(first: 100, after: …)` through the API (yoga.fetch, no socket) walked to the 1,000th page; the first
 * and the 1,000th page are then fetched again, `--runs` times each, and their median and p95 latency reported. The
 * same for a partner's own history and the officer's queue (reviewState: PENDING). SQLite, and PostgreSQL beside
 * it (a server this script starts, as the tests do, ANALYZEd after the load as autovacuum would) unless `--sqlite-only`.
 *
 *   npm run bench:history [-- --runs 30 --decisions 100000 --sqlite-only]
 *
 * Writes bench/results/history-<timestamp>.json and prints a markdown table. Takes about a minute per engine.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createApp } from '../src/app.js';
import { parseConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { applications } from '../test/helpers/applications.js';
import { startPostgres } from '../test/helpers/postgres.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '30' }, decisions: { type: 'string', default: '100000' }, 'sqlite-only': { type: 'boolean', default: false } },
});
const RUNS = Number(values.runs);
const DECISIONS = Number(values.decisions);
const PAGE = 100;
const REQUEST = 1_000;

const PAGE_QUERY = `query($filter: DecisionFilter, $after: String) {
  decisions(filter: $filter, first: ${PAGE}, after: $after) {
    edges { cursor node { id outcome probabilityOfDefault score decidedAt applicationRef reasons { code } review { outcome } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

type App = ReturnType<typeof createApp>;

async function fetchPage(app: App, filter: object, after: string | null, key: string) {
  const started = performance.now();
  const response = await app.yoga.fetch('http://bench/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query: PAGE_QUERY, variables: { filter, after } }),
  });
  const body = (await response.json()) as { data?: { decisions: { edges: unknown[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }; errors?: unknown };
  const ms = performance.now() - started;
  if (!body.data) throw new Error(`page refused: ${JSON.stringify(body.errors)}`);
  return { ms, ...body.data.decisions };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))];

interface Row {
  engine: string;
  history: string;
  pages: number;
  firstPage: { medianMs: number; p95Ms: number };
  lastPage: { page: number; medianMs: number; p95Ms: number };
  walkMs: number;
}

async function measure(engine: string, env: Record<string, string>): Promise<Row[]> {
  const sha = async (k: string) => createHash('sha256').update(k).digest('hex');
  const keys = { acme: 'bench-acme-key', globex: 'bench-globex-key', officer: 'bench-officer-key' };
  const config = parseConfig({
    LOG_LEVEL: 'silent',
    AUDIT_SYNC: 'normal',
    API_KEYS: `acme:${await sha(keys.acme)},globex:${await sha(keys.globex)}`,
    REVIEWER_KEYS: `officer:${await sha(keys.officer)}`,
    ...env,
  });
  const app = createApp(config, createLogger('silent'));
  await app.start();
  try {
    const batch = applications(REQUEST);
    const started = performance.now();
    // 100 requests of 1,000: 4 of 5 acme's, 1 of 5 globex's
    for (let r = 0; r < DECISIONS / REQUEST; r++) await app.decisions.decideBatch(batch, { caller: r % 5 === 4 ? 'globex' : 'acme' });
    console.log(`${engine}: ${DECISIONS} decisions recorded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    if (env.AUDIT_DATABASE_URL) {
      // the statistics autovacuum gathers on a trail in service; right after a bulk load the planner has none
      const client = new pg.Client({ connectionString: env.AUDIT_DATABASE_URL });
      await client.connect();
      await client.query('ANALYZE');
      await client.end();
    }
    const rows: Row[] = [];
    for (const [history, key, filter] of [
      ['all (reviewer)', keys.officer, {}],
      ["one partner's (acme, 80 %)", keys.acme, {}],
      ["the officer's queue (PENDING)", keys.officer, { reviewState: 'PENDING' }],
    ] as const) {
      const walkStarted = performance.now();
      const cursors: Array<string | null> = [null];
      for (;;) {
        const page = await fetchPage(app, filter, cursors.at(-1)!, key);
        if (!page.pageInfo.hasNextPage) break;
        cursors.push(page.pageInfo.endCursor);
      }
      const walkMs = performance.now() - walkStarted;
      const last = cursors.length - 1;
      const first: number[] = [];
      const lastMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        first.push((await fetchPage(app, filter, null, key)).ms);
        lastMs.push((await fetchPage(app, filter, cursors[last], key)).ms);
      }
      rows.push({
        engine,
        history,
        pages: cursors.length,
        firstPage: { medianMs: median(first), p95Ms: p95(first) },
        lastPage: { page: cursors.length, medianMs: median(lastMs), p95Ms: p95(lastMs) },
        walkMs,
      });
      console.log(`${engine}, ${history}: ${cursors.length} pages; page 1 ${median(first).toFixed(1)} ms, page ${cursors.length} ${median(lastMs).toFixed(1)} ms (medians of ${RUNS})`);
    }
    return rows;
  } finally {
    await app.close();
  }
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loan-api-bench-history-'));
const rows: Row[] = [];
try {
  rows.push(...(await measure('SQLite', { DATA_DIR: dataDir })));
  if (!values['sqlite-only']) {
    const postgres = await startPostgres();
    try {
      rows.push(...(await measure('PostgreSQL', { AUDIT_DATABASE_URL: await postgres.createDatabase('history') })));
    } finally {
      await postgres.destroy();
    }
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

const table = [
  `| engine | history | pages of ${PAGE} | page 1, median (p95) | last page, median (p95) | walking every page |`,
  '|---|---|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.engine} | ${r.history} | ${r.pages} | ${r.firstPage.medianMs.toFixed(1)} ms (${r.firstPage.p95Ms.toFixed(1)}) | ` +
      `${r.lastPage.medianMs.toFixed(1)} ms (${r.lastPage.p95Ms.toFixed(1)}) | ${(r.walkMs / 1000).toFixed(1)} s |`,
  ),
].join('\n');
console.log(`\n${table}`);
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
await mkdir(path.join('bench', 'results'), { recursive: true });
await writeFile(path.join('bench', 'results', `history-${stamp}.json`), JSON.stringify({ date: new Date().toISOString(), decisions: DECISIONS, page: PAGE, runs: RUNS, node: process.version, cpus: os.cpus().length, rows }, null, 2));
