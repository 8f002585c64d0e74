/**
 * Writes the SYNTHETIC loan book (data/README.md): `npm run data [-- --rows N --seed S --out path]`.
 * `--shift annualIncome=-20%,creditScore=-30` draws a shifted population instead (default out: data/shifted.csv), to
 * watch drift: `npm run send -- data/shifted.csv` scores it.
 *
 * Next to the CSV it writes `<name>.meta.json` (generator, seed, rows, default rate, SHA-256 of the CSV). The trainer
 * trusts the book as synthetic, and computes the oracle AUC, only when that sidecar matches the CSV byte for byte.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { formatLoanBookCsv } from '../training/csv.js';
import { auc } from '../training/metrics.js';
import { formatShift, parseShift } from '../training/shift.js';
import {
  DEFAULT_ROWS,
  DEFAULT_SEED,
  GENERATOR_VERSION,
  generateLoanBook,
  sidecarPath,
  trueDefaultProbability,
  type SyntheticBookMetadata,
} from '../training/synthetic.js';

function integerFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      shift: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: npm run data -- [--rows 50000] [--seed 20260101] [--out data/loan-book.csv] [--shift annualIncome=-20%,creditScore=-30]');
    return;
  }
  const rows = integerFlag('rows', values.rows, DEFAULT_ROWS, 1, 10_000_000);
  const seed = integerFlag('seed', values.seed, DEFAULT_SEED, 0, 0xffffffff);
  const shift = values.shift === undefined ? undefined : parseShift(values.shift);
  // a shifted population never overwrites the training book by default
  const out = values.out ?? (shift ? 'data/shifted.csv' : 'data/loan-book.csv');

  const book = generateLoanBook(rows, seed, shift);
  const csv = formatLoanBookCsv(book);
  const sha256 = createHash('sha256').update(csv).digest('hex');
  const defaulted = book.reduce((s, r) => s + r.defaulted, 0);
  const labels = book.map((r) => r.defaulted);
  const oracleAuc =
    defaulted > 0 && defaulted < rows ? auc(book.map((r) => trueDefaultProbability(r.application)), labels) : undefined;

  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, csv);
  const meta: SyntheticBookMetadata = {
    synthetic: true,
    generator: GENERATOR_VERSION,
    seed,
    rows,
    defaultRate: Number((defaulted / rows).toFixed(6)),
    ...(oracleAuc !== undefined ? { oracleAucFullBook: Number(oracleAuc.toFixed(6)) } : {}),
    sha256,
    ...(shift ? { shift: formatShift(shift) } : {}),
  };
  writeFileSync(sidecarPath(out), JSON.stringify(meta, null, 2) + '\n');

  console.log(`SYNTHETIC loan book: ${rows} rows, seed ${seed}${shift ? `, shifted ${formatShift(shift)}` : ''} → ${out} (+ ${sidecarPath(out)})`);
  console.log(`  default rate ${(100 * meta.defaultRate).toFixed(2)}%` + (oracleAuc !== undefined ? `, oracle AUC (whole book) ${oracleAuc.toFixed(4)}` : ''));
  console.log(`  sha256 ${sha256}`);
}

try {
  main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
