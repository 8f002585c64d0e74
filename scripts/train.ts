/**
 * Trains the default-risk logistic regression and writes `<out>/<name>-<version>/model.onnx` + `model.json`:
 *
 *   npm run train [-- --data data/loan-book.csv --seed 42 --name loan-default-lr --version 1.0.0 --out models
 *                    --created-at 2026-01-01T00:00:00Z --l2 1 --test-fraction 0.2
 *                    --approve-quantile 0.6 --lgd 0.6 --margin 0.2 --synthetic | --no-synthetic]
 *
 * Same data and flags → byte-identical files (createdAt comes from --created-at, never the clock).
 * The oracle AUC is computed only for the synthetic book: when `<data>.meta.json` from `npm run data` matches the
 * CSV's SHA-256, or when --synthetic says so. models/README.md documents the output.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { LoanBookCsvError, parseLoanBookCsv } from '../training/csv.js';
import {
  GENERATOR_VERSION,
  sidecarPath,
  trueDefaultProbability,
  type SyntheticBookMetadata,
} from '../training/synthetic.js';
import { TRAINING_DEFAULTS, trainModel } from '../training/train.js';

function numberFlag(name: string, raw: string | undefined, fallback: number, check: (n: number) => boolean, rule: string): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || !check(value)) throw new Error(`--${name} must be ${rule}, got "${raw}"`);
  return value;
}

function readSidecar(dataPath: string, sha256: string): { meta?: SyntheticBookMetadata; problem?: string } {
  const path = sidecarPath(dataPath);
  if (!existsSync(path)) return {};
  let meta: SyntheticBookMetadata;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8')) as SyntheticBookMetadata;
  } catch (error) {
    return { problem: `${path} is not valid JSON (${(error as Error).message})` };
  }
  if (meta.synthetic !== true) return { problem: `${path} does not mark the data as synthetic` };
  if (meta.generator !== GENERATOR_VERSION) {
    return { problem: `${path} is from generator ${meta.generator}, this trainer knows ${GENERATOR_VERSION}` };
  }
  if (meta.sha256 !== sha256) return { problem: `${path} does not match the CSV (SHA-256 differs): the CSV was changed` };
  return { meta };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      data: { type: 'string', default: 'data/loan-book.csv' },
      seed: { type: 'string' },
      name: { type: 'string', default: TRAINING_DEFAULTS.name },
      version: { type: 'string', default: TRAINING_DEFAULTS.version },
      out: { type: 'string', default: 'models' },
      'created-at': { type: 'string', default: TRAINING_DEFAULTS.createdAt },
      l2: { type: 'string' },
      'test-fraction': { type: 'string' },
      'approve-quantile': { type: 'string' },
      lgd: { type: 'string' },
      margin: { type: 'string' },
      synthetic: { type: 'boolean' },
      'no-synthetic': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
    return;
  }
  const dataPath = values.data!;
  const name = values.name!;
  const version = values.version!;
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name)) throw new Error(`--name must be letters, digits, ".", "_" or "-", got "${name}"`);
  if (!/^[A-Za-z0-9][A-Za-z0-9.+_-]*$/.test(version)) throw new Error(`--version must be letters, digits, ".", "+", "_" or "-", got "${version}"`);
  const seed = numberFlag('seed', values.seed, TRAINING_DEFAULTS.seed, (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff, 'an integer from 0 to 4294967295');
  const l2 = numberFlag('l2', values.l2, TRAINING_DEFAULTS.l2, (n) => n >= 0, 'a non-negative number');
  const testFraction = numberFlag('test-fraction', values['test-fraction'], TRAINING_DEFAULTS.testFraction, (n) => n > 0 && n < 1, 'between 0 and 1');
  const approveQuantile = numberFlag('approve-quantile', values['approve-quantile'], TRAINING_DEFAULTS.approveQuantile, (n) => n > 0 && n < 1, 'between 0 and 1');
  const lossGivenDefault = numberFlag('lgd', values.lgd, TRAINING_DEFAULTS.lossGivenDefault, (n) => n > 0 && n <= 1, 'in (0, 1]');
  const margin = numberFlag('margin', values.margin, TRAINING_DEFAULTS.margin, (n) => n > 0, 'positive');
  if (values.synthetic && values['no-synthetic']) throw new Error('--synthetic and --no-synthetic contradict each other');
  if (!existsSync(dataPath)) throw new Error(`no data at ${dataPath}: run \`npm run data\` first, or pass --data path/to/book.csv`);

  const bytes = readFileSync(dataPath);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const book = parseLoanBookCsv(bytes.toString('utf8'), dataPath);
  if (book.ignoredColumns.length > 0) console.log(`ignoring column(s) ${book.ignoredColumns.join(', ')}`);

  const sidecar = readSidecar(dataPath, sha256);
  if (sidecar.problem) console.warn(`warning: ${sidecar.problem}`);
  const synthetic = values['no-synthetic'] ? false : values.synthetic ? true : sidecar.meta !== undefined;
  if (values.synthetic && !sidecar.meta) {
    console.warn(`warning: --synthetic without a matching sidecar: the oracle assumes ${GENERATOR_VERSION}'s default process`);
  }

  const split = `held-out ${Math.round(testFraction * 100)}% by seeded shuffle (seed ${seed})`;
  const rowCount = book.rows.length.toLocaleString('en-US');
  const description = synthetic
    ? `SYNTHETIC loan book, not real applicants: ${rowCount} rows from \`npm run data\`` +
      (sidecar.meta ? ` (${sidecar.meta.generator}, seed ${sidecar.meta.seed})` : '') +
      `; labels drawn from a known default process (data/README.md). CSV sha256 ${sha256}; ${split}.`
    : `Loan book ${basename(dataPath)}: ${rowCount} rows, CSV sha256 ${sha256}; ${split}.`;

  const result = trainModel(book.rows, {
    name,
    version,
    createdAt: values['created-at'],
    seed,
    l2,
    testFraction,
    approveQuantile,
    lossGivenDefault,
    margin,
    oracle: synthetic ? trueDefaultProbability : undefined,
    data: { synthetic, description },
  });

  const dir = join(values.out!, `${name}-${version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), result.onnx);
  writeFileSync(join(dir, 'model.json'), result.manifestJson);

  const m = result.metrics;
  const t = result.thresholds;
  const s = result.testDecisionShares;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`trained ${name} ${version} on ${dataPath}${synthetic ? ' (SYNTHETIC)' : ''}`);
  console.log(`  rows            train ${m.trainRows}, held-out ${m.testRows}; default rate train ${pct(m.trainDefaultRate)}, held-out ${pct(m.testDefaultRate)}`);
  console.log(`  fit             ${result.features.length} features, L2 λ = ${l2}, ${result.model.iterations} Newton steps`);
  console.log(`  held-out AUC    ${m.auc.toFixed(4)}` + (m.oracleAuc !== undefined ? `   (oracle AUC ${m.oracleAuc.toFixed(4)}, gap ${(m.oracleAuc - m.auc).toFixed(4)})` : ''));
  console.log(`  held-out KS     ${m.ks.toFixed(4)}`);
  console.log(`  held-out Brier  ${m.brier.toFixed(4)}` + (m.oracleBrier !== undefined ? `   (oracle Brier ${m.oracleBrier.toFixed(4)})` : ''));
  console.log(`  thresholds      approve < ${t.approve} (${Math.round(approveQuantile * 100)}th percentile of training risk), decline ≥ ${t.decline} (break-even at LGD ${lossGivenDefault}, margin ${margin})`);
  console.log(`  held-out split  approve ${pct(s.approve)}, refer ${pct(s.refer)}, decline ${pct(s.decline)}`);
  console.log(`  wrote           ${join(dir, 'model.onnx')} (${result.onnx.length} bytes), ${join(dir, 'model.json')}`);
  if (m.oracleAuc !== undefined) {
    const ok = m.auc >= m.oracleAuc - 0.01;
    console.log(`  target          AUC ≥ oracle AUC − 0.01: ${ok ? 'met' : 'NOT MET (more rows, or check the data)'}`);
  }
}

try {
  main();
} catch (error) {
  console.error(error instanceof LoanBookCsvError || error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
