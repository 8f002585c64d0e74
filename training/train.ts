/**
 * The training pipeline, free of I/O: split → encode with the feature catalogue → fit → evaluate → choose thresholds
 * → export ONNX + manifest. scripts/train.ts reads the CSV and writes the files; tests call this directly.
 *
 * Deterministic: the same rows and options give byte-identical model.onnx and model.json.
 */
import type { LoanApplication } from '../src/model/application.js';
import { FEATURE_CATALOGUE, encode, resolveFeatures, type CatalogueFeature } from '../src/model/features.js';
import { manifestSchema, type ManifestInput } from '../src/model/manifest.js';
import type { LabelledApplication } from './csv.js';
import { ONNX_INPUT_NAME, ONNX_PROBABILITY_OUTPUT, exportLogisticRegressionOnnx } from './export-onnx.js';
import { fitLogisticRegression, predictProbability, type LogisticRegressionModel } from './logistic-regression.js';
import { auc, brier, ks, quantile } from './metrics.js';
import { referenceProfile } from './profile.js';
import { shuffledIndices } from './synthetic.js';

export const TRAINING_DEFAULTS = {
  name: 'loan-default-lr',
  version: '1.0.0',
  /** fixed, not the wall clock, so a rerun gives the same bytes; override with --created-at */
  createdAt: '2026-01-01T00:00:00Z',
  seed: 42,
  testFraction: 0.2,
  l2: 1,
  /** the share of training applicants whose predicted risk falls below the approve threshold */
  approveQuantile: 0.6,
  /** loss given default: the share of a defaulted loan's amount that is lost */
  lossGivenDefault: 0.6,
  /** net interest margin earned over the life of a loan that is repaid, as a share of the amount */
  margin: 0.2,
} as const;

export interface TrainOptions {
  name?: string;
  version?: string;
  createdAt?: string;
  /** seed of the train/test shuffle */
  seed?: number;
  testFraction?: number;
  l2?: number;
  /** catalogue feature names, in model input order @default every catalogue feature */
  featureNames?: readonly string[];
  approveQuantile?: number;
  lossGivenDefault?: number;
  margin?: number;
  /** the true probability of default, when the data is synthetic and it is known: gives the oracle AUC */
  oracle?: (application: LoanApplication) => number;
  data: { synthetic: boolean; description: string };
}

export interface TrainMetrics {
  auc: number;
  ks: number;
  brier: number;
  oracleAuc?: number;
  oracleBrier?: number;
  trainRows: number;
  testRows: number;
  trainDefaultRate: number;
  testDefaultRate: number;
}

export interface TrainResult {
  model: LogisticRegressionModel;
  features: CatalogueFeature[];
  metrics: TrainMetrics;
  thresholds: { approve: number; decline: number; breakEven: number; approveQuantileValue: number };
  /** shares of the held-out rows each outcome would get */
  testDecisionShares: { approve: number; refer: number; decline: number };
  /** row indices (into the input) of each split, ascending */
  trainIndices: number[];
  testIndices: number[];
  /** the model's probability of default for each held-out row, in testIndices order */
  testPredictions: Float64Array;
  manifest: ManifestInput;
  manifestJson: string;
  onnx: Uint8Array;
}

const round = (x: number, decimals: number) => Number(x.toFixed(decimals));
const defaultRate = (labels: readonly number[]) => labels.reduce((s, y) => s + y, 0) / labels.length;

export function trainModel(rows: readonly LabelledApplication[], options: TrainOptions): TrainResult {
  const o = { ...TRAINING_DEFAULTS, ...stripUndefined(options) };
  if (!(o.testFraction > 0 && o.testFraction < 1)) throw new Error(`testFraction must be in (0, 1), got ${o.testFraction}`);
  if (!(o.approveQuantile > 0 && o.approveQuantile < 1)) {
    throw new Error(`approveQuantile must be in (0, 1), got ${o.approveQuantile}`);
  }
  if (!(o.lossGivenDefault > 0 && o.margin > 0)) throw new Error('lossGivenDefault and margin must be positive');

  const features = resolveFeatures(options.featureNames ?? FEATURE_CATALOGUE.map((f) => f.name));
  const order = shuffledIndices(rows.length, o.seed);
  const testCount = Math.round(rows.length * o.testFraction);
  const testIndices = Array.from(order.subarray(0, testCount)).sort((a, b) => a - b);
  const trainIndices = Array.from(order.subarray(testCount)).sort((a, b) => a - b);
  const train = trainIndices.map((i) => rows[i]);
  const test = testIndices.map((i) => rows[i]);
  const trainLabels = train.map((r) => r.defaulted);
  const testLabels = test.map((r) => r.defaulted);
  for (const [split, labels] of [['training', trainLabels], ['held-out', testLabels]] as const) {
    const positives = labels.reduce((s: number, y) => s + y, 0);
    if (positives === 0 || positives === labels.length) {
      throw new Error(`the ${split} split needs both defaulted and repaid rows (it has ${labels.length} rows, ${positives} defaulted)`);
    }
  }

  // The service encodes with the same catalogue functions, into float32: train on exactly those values.
  const xTrain = encode(train.map((r) => r.application), features);
  const xTest = encode(test.map((r) => r.application), features);
  const model = fitLogisticRegression(xTrain, trainLabels, features.length, { l2: o.l2 });
  if (!model.converged) throw new Error(`logistic regression did not converge in ${model.iterations} Newton steps`);

  const testPredictions = predictProbability(model, xTest);
  const trainPredictions = predictProbability(model, xTrain);
  const metrics: TrainMetrics = {
    auc: round(auc(testPredictions, testLabels), 6),
    ks: round(ks(testPredictions, testLabels), 6),
    brier: round(brier(testPredictions, testLabels), 6),
    trainRows: train.length,
    testRows: test.length,
    trainDefaultRate: round(defaultRate(trainLabels), 6),
    testDefaultRate: round(defaultRate(testLabels), 6),
  };
  if (options.oracle) {
    const oracle = test.map((r) => options.oracle!(r.application));
    metrics.oracleAuc = round(auc(oracle, testLabels), 6);
    metrics.oracleBrier = round(brier(oracle, testLabels), 6);
  }

  // Thresholds (models/README.md, "Thresholds"):
  //  decline at the break-even probability, where the expected loss p·LGD equals the expected margin (1 − p)·m;
  //  approve below the approveQuantile-th percentile of predicted risk on the training rows (never above decline).
  const breakEven = o.margin / (o.margin + o.lossGivenDefault);
  const approveQuantileValue = quantile(trainPredictions, o.approveQuantile);
  const decline = clampThreshold(round(breakEven, 4));
  const approve = Math.min(clampThreshold(round(approveQuantileValue, 4)), decline);
  const shares = { approve: 0, refer: 0, decline: 0 };
  for (const p of testPredictions) {
    if (p < approve) shares.approve++;
    else if (p >= decline) shares.decline++;
    else shares.refer++;
  }
  const testDecisionShares = {
    approve: round(shares.approve / test.length, 4),
    refer: round(shares.refer / test.length, 4),
    decline: round(shares.decline / test.length, 4),
  };

  const manifest: ManifestInput = {
    name: o.name,
    version: o.version,
    createdAt: o.createdAt,
    onnxFile: 'model.onnx',
    input: { name: ONNX_INPUT_NAME },
    features: features.map((f, j) => ({ name: f.name, description: f.description, reference: model.mean[j] })),
    output: { name: ONNX_PROBABILITY_OUTPUT, column: 1, meaning: 'default' },
    thresholds: { approve, decline },
    metrics: {
      auc: metrics.auc,
      ks: metrics.ks,
      brier: metrics.brier,
      ...(metrics.oracleAuc !== undefined ? { oracleAuc: metrics.oracleAuc } : {}),
      trainRows: metrics.trainRows,
      testRows: metrics.testRows,
    },
    data: { synthetic: options.data.synthetic, description: options.data.description },
    // what live drift is measured against: the training rows' bins and shares, and the same for the model's risk
    profile: referenceProfile(xTrain, features, trainPredictions),
  };
  manifestSchema.parse(manifest);
  const manifestJson = formatManifest(manifest);

  const onnx = exportLogisticRegressionOnnx(model, {
    graphName: o.name.replace(/[^A-Za-z0-9_]/g, '_'),
    docString:
      `${o.name} ${o.version}: L2-regularised (λ = ${o.l2}) logistic regression on ${features.length} standardised ` +
      `catalogue features; output probabilities[:, 1] = probability of default.`,
  });

  return {
    model,
    features,
    metrics,
    thresholds: { approve, decline, breakEven, approveQuantileValue },
    testDecisionShares,
    trainIndices,
    testIndices,
    testPredictions,
    manifest,
    manifestJson,
    onnx,
  };
}

/**
 * JSON with two-space indents, as before the profile; an array of numbers or strings (the profile's edges, shares and
 * categories) on one line, so the manifest stays readable.
 */
export function formatManifest(manifest: ManifestInput): string {
  const json = JSON.stringify(manifest, null, 2);
  return json.replace(/\[\n\s*([^[\]{}]*?)\n\s*\]/g, (_, items: string) => `[${items.split(/,\n\s*/).join(', ')}]`) + '\n';
}

function clampThreshold(t: number): number {
  return Math.min(0.9999, Math.max(0.0001, t));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
