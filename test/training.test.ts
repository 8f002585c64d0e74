import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { FEATURE_CATALOGUE, encode } from '../src/model/features.js';
import { manifestSchema } from '../src/model/manifest.js';
import { LoanBookCsvError, formatLoanBookCsv, parseLoanBookCsv } from '../training/csv.js';
import {
  fitLogisticRegression,
  predictProbability,
  rawCoefficients,
} from '../training/logistic-regression.js';
import { quantile } from '../training/metrics.js';
import {
  DEFAULT_ROWS,
  DEFAULT_SEED,
  generateLoanBook,
  mulberry32,
  normal,
  trueDefaultProbability,
  type SyntheticBookMetadata,
} from '../training/synthetic.js';
import { trainModel, type TrainOptions } from '../training/train.js';

const repoFile = (relative: string) => new URL(`../${relative}`, import.meta.url);

async function runOnnx(bytes: Uint8Array, x: Float32Array, rows: number, width: number) {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ float_input: new ort.Tensor('float32', x, [rows, width]) });
    return {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      probabilities: out.probabilities,
      label: out.label,
    };
  } finally {
    await session.release();
  }
}

const SMALL_OPTIONS: TrainOptions = { data: { synthetic: true, description: 'SYNTHETIC test book' }, oracle: trueDefaultProbability };

describe('fitLogisticRegression', () => {
  it('recovers the coefficients of a known logistic model', () => {
    const rng = mulberry32(11);
    const truth = { intercept: -1, weights: [0.8, -0.3, 1.2] };
    const rows = 30_000;
    const x = new Float64Array(rows * 3);
    const y: number[] = [];
    for (let i = 0; i < rows; i++) {
      x[i * 3] = 5 + 2 * normal(rng);
      x[i * 3 + 1] = 10 * rng();
      x[i * 3 + 2] = rng() < 0.3 ? 1 : 0;
      let eta = truth.intercept;
      for (let j = 0; j < 3; j++) eta += truth.weights[j] * x[i * 3 + j];
      y.push(rng() < 1 / (1 + Math.exp(-eta)) ? 1 : 0);
    }
    const model = fitLogisticRegression(x, y, 3, { l2: 1e-6 });
    expect(model.converged).toBe(true);
    const fitted = rawCoefficients(model);
    expect(fitted.intercept).toBeCloseTo(truth.intercept, 0);
    expect(Math.abs(fitted.intercept - truth.intercept)).toBeLessThan(0.15);
    fitted.weights.forEach((w, j) => expect(Math.abs(w - truth.weights[j]), `weight ${j}`).toBeLessThan(0.06));
  });

  it('shrinks the weights as the L2 penalty grows and keeps a full one-hot group solvable', () => {
    const rng = mulberry32(5);
    const rows = 2000;
    // two indicator columns that always sum to 1: collinear with the intercept
    const x = new Float64Array(rows * 2);
    const y: number[] = [];
    for (let i = 0; i < rows; i++) {
      const a = rng() < 0.4 ? 1 : 0;
      x[i * 2] = a;
      x[i * 2 + 1] = 1 - a;
      y.push(rng() < (a ? 0.3 : 0.1) ? 1 : 0);
    }
    const light = fitLogisticRegression(x, y, 2, { l2: 0.1 });
    const heavy = fitLogisticRegression(x, y, 2, { l2: 1000 });
    expect(light.converged).toBe(true);
    expect(Math.abs(heavy.weights[0])).toBeLessThan(Math.abs(light.weights[0]));
    // the group's two weights split the effect symmetrically
    expect(light.weights[0]).toBeCloseTo(-light.weights[1], 6);
  });
});

describe('trainModel', () => {
  const small = generateLoanBook(3000, 99);

  it('is deterministic: training twice gives byte-identical model.onnx and model.json', () => {
    const a = trainModel(small, SMALL_OPTIONS);
    const b = trainModel(small, SMALL_OPTIONS);
    expect(Buffer.from(a.onnx).equals(Buffer.from(b.onnx))).toBe(true);
    expect(a.manifestJson).toBe(b.manifestJson);
    const c = trainModel(small, { ...SMALL_OPTIONS, seed: 43 });
    expect(c.manifestJson).not.toBe(a.manifestJson);
  });

  it('writes a manifest that parses, with every catalogue feature, its description and training mean', () => {
    const result = trainModel(small, SMALL_OPTIONS);
    const manifest = manifestSchema.parse(JSON.parse(result.manifestJson));
    expect(manifest.name).toBe('loan-default-lr');
    expect(manifest.version).toBe('1.0.0');
    expect(manifest.createdAt).toBe('2026-01-01T00:00:00Z');
    expect(manifest.input.name).toBe('float_input');
    expect(manifest.output).toEqual({ name: 'probabilities', column: 1, meaning: 'default' });
    expect(manifest.features.map((f) => f.name)).toEqual(FEATURE_CATALOGUE.map((f) => f.name));
    expect(manifest.features.map((f) => f.description)).toEqual(FEATURE_CATALOGUE.map((f) => f.description));
    const trainApps = result.trainIndices.map((i) => small[i].application);
    const income = trainApps.reduce((s, a) => s + a.annualIncome, 0) / trainApps.length;
    expect(manifest.features[0].reference).toBeCloseTo(income, 6);
    expect(manifest.metrics.trainRows! + manifest.metrics.testRows!).toBe(small.length);
    expect(manifest.metrics.testRows).toBe(600);
    expect(manifest.metrics.oracleAuc).toBeGreaterThan(0.5);
    expect(manifest.data.synthetic).toBe(true);

    // thresholds: approve at the 60th percentile of training risk, decline at break-even 0.2 / (0.2 + 0.6)
    expect(manifest.thresholds.decline).toBe(0.25);
    const trainRisk = predictProbability(result.model, encode(trainApps, result.features));
    expect(manifest.thresholds.approve).toBeCloseTo(quantile(trainRisk, 0.6), 4);
    expect(manifest.thresholds.approve).toBeLessThanOrEqual(manifest.thresholds.decline);
  });

  it('omits the oracle AUC when the truth is unknown', () => {
    const result = trainModel(small, { data: { synthetic: false, description: 'a lender book' } });
    expect(result.manifest.metrics).not.toHaveProperty('oracleAuc');
    expect(result.manifest.data.synthetic).toBe(false);
  });

  it('exports ONNX that onnxruntime runs to the same probabilities and labels as the TypeScript model', async () => {
    const result = trainModel(small, SMALL_OPTIONS);
    const apps = small.map((r) => r.application);
    const x = encode(apps, result.features);
    const out = await runOnnx(result.onnx, x, apps.length, result.features.length);
    expect(out.inputNames).toEqual(['float_input']);
    expect(out.outputNames).toEqual(['label', 'probabilities']);
    expect(out.probabilities.type).toBe('float32');
    expect(out.probabilities.dims).toEqual([apps.length, 2]);
    expect(out.label.type).toBe('int64');
    expect(out.label.dims).toEqual([apps.length]);
    const expected = predictProbability(result.model, x);
    const probabilities = out.probabilities.data as Float32Array;
    const labels = out.label.data as BigInt64Array;
    for (let i = 0; i < apps.length; i++) {
      expect(Math.abs(probabilities[2 * i + 1] - expected[i])).toBeLessThan(1e-5);
      expect(Math.abs(probabilities[2 * i] - (1 - expected[i]))).toBeLessThan(1e-5);
      expect(Number(labels[i])).toBe(expected[i] > 0.5 ? 1 : 0);
    }
  });
});

describe('parseLoanBookCsv', () => {
  const good = formatLoanBookCsv(generateLoanBook(5, 1));
  const header = good.split('\n')[0];

  const problemsOf = (text: string) => {
    try {
      parseLoanBookCsv(text, 'book.csv');
    } catch (error) {
      expect(error).toBeInstanceOf(LoanBookCsvError);
      return error as LoanBookCsvError;
    }
    throw new Error('expected the CSV to be refused');
  };

  it('reads the generator output, CRLF line ends, quoted fields and extra columns', () => {
    expect(parseLoanBookCsv(good).rows).toHaveLength(5);
    expect(parseLoanBookCsv(good.replaceAll('\n', '\r\n')).rows).toHaveLength(5);
    const withExtras = good
      .trim()
      .split('\n')
      .map((line, i) => (i === 0 ? `applicationRef,${line},note` : `"ref-${i}",${line},"free, text"`))
      .join('\n');
    const book = parseLoanBookCsv(withExtras);
    expect(book.ignoredColumns).toEqual(['note']);
    expect(book.rows[0].application.applicationRef).toBe('ref-1');
    expect(book.rows[4].line).toBe(6);
  });

  it('names missing and duplicate header columns', () => {
    const missing = problemsOf(good.replace('creditScore,', 'creditscore,'));
    expect(missing.message).toMatch(/line 1: missing column\(s\) "creditScore"/);
    const duplicate = problemsOf(good.replace('defaulted', 'annualIncome'));
    expect(duplicate.message).toMatch(/column "annualIncome": duplicate column/);
  });

  it('names the line and column of every bad value', () => {
    const lines = good.trim().split('\n');
    const cells = lines[2].split(',');
    cells[5] = '700.5'; // creditScore must be an integer
    cells[0] = 'lots'; // annualIncome not a number
    lines[2] = cells.join(',');
    const cells4 = lines[4].split(',');
    cells4[4] = 'HOLIDAY';
    cells4[11] = '2';
    lines[4] = cells4.join(',');
    lines[5] = '1,2,3';
    const error = problemsOf(lines.join('\n'));
    expect(error.problems).toEqual([
      { line: 3, column: 'annualIncome', message: '"lots" is not a number' },
      { line: 3, column: 'creditScore', message: 'creditScore must be an integer' },
      { line: 5, column: 'loanPurpose', message: expect.stringMatching(/^"HOLIDAY" is not one of DEBT_CONSOLIDATION, /) },
      { line: 5, column: 'defaulted', message: 'must be 0 or 1, got "2"' },
      { line: 6, message: 'expected 12 fields (as in the header), found 3' },
    ]);
    expect(error.message).toContain('book.csv: line 3, column "creditScore": creditScore must be an integer');
    expect(error.message).toContain('book.csv: line 6: expected 12 fields');
  });

  it('refuses an empty file and a header without rows', () => {
    expect(problemsOf('').message).toMatch(/empty/);
    expect(problemsOf(`${header}\n`).message).toMatch(/no data rows/);
  });
});

describe('the committed default model', () => {
  const dir = 'models/loan-default-lr-1.0.0';

  it('is reproduced byte for byte by npm run data && npm run train', () => {
    const meta = JSON.parse(readFileSync(repoFile('data/loan-book.meta.json'), 'utf8')) as SyntheticBookMetadata;
    expect(meta).toMatchObject({ seed: DEFAULT_SEED, rows: DEFAULT_ROWS });
    const csv = formatLoanBookCsv(generateLoanBook(DEFAULT_ROWS, DEFAULT_SEED));
    expect(createHash('sha256').update(csv).digest('hex')).toBe(meta.sha256);

    // what scripts/train.ts does with the default flags
    const rows = parseLoanBookCsv(csv).rows;
    const committed = manifestSchema.parse(JSON.parse(readFileSync(repoFile(`${dir}/model.json`), 'utf8')));
    const result = trainModel(rows, {
      oracle: trueDefaultProbability,
      data: { synthetic: true, description: committed.data.description },
    });
    expect(result.manifestJson).toBe(readFileSync(repoFile(`${dir}/model.json`), 'utf8'));
    expect(Buffer.from(result.onnx).equals(readFileSync(repoFile(`${dir}/model.onnx`)))).toBe(true);
    expect(committed.data.description).toContain(meta.sha256);

    // the accuracy target
    expect(result.metrics.auc).toBeGreaterThanOrEqual(result.metrics.oracleAuc! - 0.01);
  });

  it('loads in onnxruntime and agrees with the manifest', async () => {
    const manifest = manifestSchema.parse(JSON.parse(readFileSync(repoFile(`${dir}/model.json`), 'utf8')));
    const apps = generateLoanBook(200, 5).map((r) => r.application);
    const width = manifest.features.length;
    const features = FEATURE_CATALOGUE.filter((f) => manifest.features.some((m) => m.name === f.name));
    expect(features.map((f) => f.name)).toEqual(manifest.features.map((f) => f.name));
    const out = await runOnnx(readFileSync(repoFile(`${dir}/model.onnx`)), encode(apps, features), apps.length, width);
    expect(out.inputNames).toEqual([manifest.input.name]);
    const p = out.probabilities.data as Float32Array;
    for (let i = 0; i < apps.length; i++) {
      expect(p[2 * i + manifest.output.column]).toBeGreaterThan(0);
      expect(p[2 * i + manifest.output.column]).toBeLessThan(1);
    }
    // risk rises as the credit score falls
    const base = apps[0];
    const probe = [{ ...base, creditScore: 580 }, { ...base, creditScore: 780 }];
    const pair = await runOnnx(readFileSync(repoFile(`${dir}/model.onnx`)), encode(probe, features), 2, width);
    const pp = pair.probabilities.data as Float32Array;
    expect(pp[1]).toBeGreaterThan(pp[3]);
  });
});
