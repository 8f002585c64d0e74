/**
 * Model-layer throughput: applications/s through the scoring batcher vs raw `session.run` (`model.predict` on a
 * pre-encoded matrix, with and without the explanation rows) on the same model, at batch sizes 1, 64 and 1,024.
 *
 *   npm run bench:model
 *
 * Uses models/loan-default-lr-1.0.0 when it is there, else the linear test fixture. Prints a markdown table of
 * medians and writes every run to bench/results/model-<timestamp>.json. Takes about 30 s.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScoringBatcher } from '../src/model/batcher.js';
import { encode } from '../src/model/features.js';
import { ScoringModel } from '../src/model/scoring-model.js';
import { removeTempDirs, writeLinearModel } from '../test/fixtures/models.js';
import { applications } from '../test/helpers/applications.js';

const MODEL_DIR = path.join('models', 'loan-default-lr-1.0.0');
export const BATCH_SIZES = [1, 64, 1024] as const;

export type ModeName = 'predict' | 'predict+explain' | 'score' | 'batcher 0ms' | 'batcher 1ms';
export const MODES: readonly ModeName[] = ['predict', 'predict+explain', 'score', 'batcher 0ms', 'batcher 1ms'];

export interface ModelBenchOptions {
  /** timed runs per mode and batch size. @default 3 */
  runs?: number;
  /** length of one timed run. @default 500 */
  runMs?: number;
  /** untimed run per mode before the timed ones. @default 100 */
  warmupMs?: number;
  /** progress lines. @default stdout */
  log?: (line: string) => void;
}

export interface Run {
  iterations: number;
  ms: number;
  applicationsPerSecond: number;
  /** mean wall time of one iteration (one batch of `batchSize` applications) */
  msPerBatch: number;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function timed(batchSize: number, durationMs: number, iteration: () => Promise<unknown>): Promise<Run> {
  let iterations = 0;
  const start = performance.now();
  let now = start;
  while (now - start < durationMs || iterations < 3) {
    await iteration();
    iterations++;
    now = performance.now();
  }
  const ms = now - start;
  return { iterations, ms, applicationsPerSecond: (batchSize * iterations * 1000) / ms, msPerBatch: ms / iterations };
}

/** Runs the model-layer comparison in this process; returns the markdown table and everything bench/results keeps. */
export async function runModelBench(options: ModelBenchOptions = {}) {
  const RUNS = options.runs ?? 3;
  const RUN_MS = options.runMs ?? 500;
  const WARMUP_MS = options.warmupMs ?? 100;
  const log = options.log ?? ((line: string) => console.log(line));
  const started = performance.now();
  const loadAverageAtStart = os.loadavg();
  const useCommitted = existsSync(path.join(MODEL_DIR, 'model.json')) && existsSync(path.join(MODEL_DIR, 'model.onnx'));
  const dir = useCommitted ? MODEL_DIR : await writeLinearModel();
  const modelLabel = useCommitted ? MODEL_DIR : 'test fixture (linear, 7 features)';
  const model = await ScoringModel.create(dir);
  const F = model.features.length;
  const G = model.explainedFields.length;
  log(`model: ${modelLabel} (${model.manifest.name}@${model.manifest.version}, ${F} features, sha256 ${model.sha256.slice(0, 12)}…)`);
  log(`onnxruntime-node ${model.onnxruntimeVersion}, intraOpNumThreads ${model.intraOpNumThreads}, node ${process.version}, ${os.cpus().length} CPU(s)\n`);

  const results: Record<number, Record<ModeName, Run[]> & { batcherMeanBatchSize: Record<string, number> }> = {};

  for (const batchSize of BATCH_SIZES) {
    const apps = applications(batchSize);
    const plain = encode(apps, model.features);
    // the same layout score() builds: each row followed by one row per explained field, with that field's columns
    // (all of a categorical field's one-hot columns) set to their references
    const references = model.manifest.features.map((f) => f.reference);
    const groups = model.explainedFields.map((field) => model.features.flatMap((f, j) => (f.field === field ? [j] : [])));
    const rowsPer = G + 1;
    const explained = new Float32Array(batchSize * rowsPer * F);
    for (let i = 0; i < batchSize; i++) {
      const base = i * rowsPer * F;
      explained.set(plain.subarray(i * F, (i + 1) * F), base);
      groups.forEach((columns, g) => {
        explained.copyWithin(base + (g + 1) * F, base, base + F);
        for (const c of columns) explained[base + (g + 1) * F + c] = references[c];
      });
    }
    const batchers = {
      'batcher 0ms': createScoringBatcher(() => model, { maxBatchSize: 1024, windowMs: 0 }),
      'batcher 1ms': createScoringBatcher(() => model, { maxBatchSize: 1024, windowMs: 1 }),
    };
    const iteration: Record<ModeName, () => Promise<unknown>> = {
      predict: () => model.predict(plain, batchSize),
      'predict+explain': () => model.predict(explained, batchSize * (G + 1)),
      score: () => model.score(apps),
      'batcher 0ms': () => Promise.all(apps.map((a) => batchers['batcher 0ms'].loader.load(a))),
      'batcher 1ms': () => Promise.all(apps.map((a) => batchers['batcher 1ms'].loader.load(a))),
    };

    for (const mode of MODES) await timed(batchSize, WARMUP_MS, iteration[mode]);
    const runs = Object.fromEntries(MODES.map((m) => [m, [] as Run[]])) as Record<ModeName, Run[]>;
    // interleave the modes so drift (thermal, neighbours) spreads over all of them
    for (let r = 0; r < RUNS; r++) {
      for (const mode of MODES) runs[mode].push(await timed(batchSize, RUN_MS, iteration[mode]));
    }
    const batcherMeanBatchSize = Object.fromEntries(
      Object.entries(batchers).map(([name, b]) => [name, b.stats.applications / b.stats.batches]),
    );
    for (const [name, size] of Object.entries(batcherMeanBatchSize)) {
      if (size !== batchSize) throw new Error(`${name}: mean batch size ${size}, expected ${batchSize}`);
    }
    results[batchSize] = { ...runs, batcherMeanBatchSize };
    log(`batch ${batchSize} done`);
  }

  const med = (b: number, m: ModeName) => median(results[b][m].map((r) => r.applicationsPerSecond));
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines = [
    '',
    `applications/s, median of ${RUNS} runs of ${RUN_MS} ms (closed loop: one batch in flight at a time)`,
    '',
    '| batch | raw predict (no expl.) | raw predict + expl. rows | model.score | batcher window 0 | batcher window 1 ms | batcher 0 / raw+expl | batcher 1ms / raw+expl | batcher 0 / raw (no expl.) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...BATCH_SIZES.map((b) => {
      const rawPlain = med(b, 'predict');
      const rawExplain = med(b, 'predict+explain');
      const b0 = med(b, 'batcher 0ms');
      const b1 = med(b, 'batcher 1ms');
      return `| ${b} | ${fmt(rawPlain)} | ${fmt(rawExplain)} | ${fmt(med(b, 'score'))} | ${fmt(b0)} | ${fmt(b1)} | ${(b0 / rawExplain).toFixed(2)} | ${(b1 / rawExplain).toFixed(2)} | ${(b0 / rawPlain).toFixed(2)} |`;
    }),
    '',
    `explanation rows: each application brings ${G} counterfactual rows, one per explained field of its ${F} columns (${G + 1} rows per application per run)`,
  ];

  await model.release();
  await removeTempDirs();
  const totalSeconds = (performance.now() - started) / 1000;
  return {
    table: lines.join('\n'),
    json: {
      kind: 'model',
      startedAt: new Date(Date.now() - totalSeconds * 1000).toISOString(),
      totalSeconds,
      model: { source: modelLabel, name: model.manifest.name, version: model.manifest.version, sha256: model.sha256, features: F },
      environment: {
        node: process.version,
        onnxruntime: model.onnxruntimeVersion,
        intraOpNumThreads: model.intraOpNumThreads,
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        platform: `${os.platform()} ${os.arch()}`,
        /** 1/5/15-minute load averages: other work on the machine skews the numbers */
        loadAverage: { start: loadAverageAtStart, end: os.loadavg() },
      },
      config: { batchSizes: BATCH_SIZES, runs: RUNS, runMs: RUN_MS, warmupMs: WARMUP_MS, modes: MODES },
      medians: Object.fromEntries(BATCH_SIZES.map((b) => [b, Object.fromEntries(MODES.map((m) => [m, med(b, m)]))])),
      runs: results,
    },
  };
}

async function main(): Promise<void> {
  const { table, json } = await runModelBench();
  console.log(table);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = path.join('bench', 'results', `model-${stamp}.json`);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(json, null, 2)}\n`);
  const load = json.environment.loadAverage;
  console.log(`\nload average (1 min) ${load.start[0].toFixed(2)} → ${load.end[0].toFixed(2)} on ${os.cpus().length} CPU(s)`);
  console.log(`raw results: ${out} (${json.totalSeconds.toFixed(1)} s)`);
}

// `npm run bench:model` runs it; `npm run bench` imports runModelBench
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
