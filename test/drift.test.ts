/**
 * Issue 14's drift scenario: a population drawn from the synthetic generator with incomes 30 % lower and credit scores
 * 40 points lower (training/shift.ts), sent through the API, crosses MONITOR_PSI_ALERT on the features computed from
 * those two fields and on the score, and on no other; an unshifted population stays far below it. Also the monitor's
 * arithmetic, the trainer's profile, a model without a profile, MONITOR=off and a hot swap.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binOf, DriftMonitor, psi, psiTerm, PSI_EPSILON, SCORE_FEATURE } from '../src/model/drift-monitor.js';
import { resolveFeatures } from '../src/model/features.js';
import { manifestSchema, type ReferenceProfile } from '../src/model/manifest.js';
import { ModelLoadError, ScoringModel } from '../src/model/scoring-model.js';
import { decileEdges } from '../training/profile.js';
import { applyShift, formatShift, parseShift } from '../training/shift.js';
import { generateLoanBook } from '../training/synthetic.js';
import { post, startTestAppsClosedAfterAll, type TestApp } from './helpers/app.js';
import {
  ADMIN_KEY,
  copyModelDir,
  DEFAULT_MODEL_DIR,
  fromProject,
  KEY_ENV,
  metricSum,
  parseMetrics,
  scrapeMetricsText,
  startLoggedApp,
  tempModelsDir,
} from './helpers/ops.js';

/** The scenario of docs/operations.md ("Drift"): `npm run data -- --shift annualIncome=-30%,creditScore=-40`. */
const SHIFT = 'annualIncome=-30%,creditScore=-40';
/** Features computed from annualIncome or creditScore, and the score: the ones the shift must move past the alert. */
const MOVED = ['annualIncome', 'creditScore', 'debtToIncome', 'loanToIncome', SCORE_FEATURE].sort();
/** The profiled features computed from no shifted field: their distribution is the training one. */
const UNMOVED = ['monthlyDebt', 'loanAmount', 'loanTermMonths', 'employmentYears', 'openCreditLines', 'delinquencies2y', 'revolvingUtilization', 'homeOwnership', 'loanPurpose'];
const WINDOW = 2000;
const SEED = 7;
const VERSION = 'loan-default-lr-1.0.0';

const MONITORING = /* GraphQL */ `{ modelInfo { version monitoring {
  status psiAlert alerts meanProbabilityOfDefault
  window { capacity applications minApplications since ageSeconds }
  outcomeRates { outcome count rate }
  score { feature psi alert largestShifts { bin lower upper category trainingShare windowShare contribution } }
  features { feature psi alert largestShifts { bin lower upper category trainingShare windowShare contribution } }
} } }`;
const SCORE = /* GraphQL */ `mutation($inputs: [LoanApplicationInput!]!) {
  scoreApplications(inputs: $inputs) { __typename ... on Decision { outcome probabilityOfDefault } }
}`;

interface Drift {
  feature: string;
  psi: number | null;
  alert: boolean;
  largestShifts: Array<{ bin: string; lower: number | null; upper: number | null; category: string | null; trainingShare: number; windowShare: number; contribution: number }>;
}

async function monitoring(app: TestApp) {
  const { json } = await post(app, { query: MONITORING });
  expect(json.errors).toBeUndefined();
  return json.data.modelInfo.monitoring as {
    status: string;
    psiAlert: number;
    alerts: string[];
    meanProbabilityOfDefault: number | null;
    window: { capacity: number; applications: number; minApplications: number; since: string | null; ageSeconds: number };
    outcomeRates: Array<{ outcome: string; count: number; rate: number }>;
    score: Drift | null;
    features: Drift[];
  };
}

/** Sends `book`'s applications in requests of 500; returns every decision's outcome and probability. */
async function send(app: TestApp, applications: object[]) {
  const decisions: Array<{ outcome: string; probabilityOfDefault: number }> = [];
  for (let i = 0; i < applications.length; i += 500) {
    const { json } = await post(app, { query: SCORE, variables: { inputs: applications.slice(i, i + 500) } });
    expect(json.errors).toBeUndefined();
    decisions.push(...json.data.scoreApplications);
  }
  expect(decisions.every((d) => 'outcome' in d)).toBe(true);
  return decisions;
}

const psiOf = (m: Awaited<ReturnType<typeof monitoring>>) =>
  Object.fromEntries([...m.features, ...(m.score ? [m.score] : [])].map((f) => [f.feature, f.psi!]));

const startTestApp = startTestAppsClosedAfterAll();

describe('the monitor', () => {
  it('bins right-closed, floors empty shares at PSI_EPSILON, and sums (a − e)·ln(a/e)', () => {
    expect([0, 1, 1.5, 2, 3].map((v) => binOf([1, 2], v))).toEqual([0, 0, 1, 1, 2]);
    expect(psi([0.5, 0.5], [0.5, 0.5])).toBe(0);
    expect(psi([0.5, 0.5], [0.8, 0.2])).toBeCloseTo(0.3 * Math.log(1.6) + 0.3 * Math.log(2.5), 12);
    // an empty bin counts as 0.0001, in the window or in training
    expect(psiTerm(0.1, 0)).toBeCloseTo((PSI_EPSILON - 0.1) * Math.log(PSI_EPSILON / 0.1), 12);
    expect(psiTerm(0, 0.1)).toBeCloseTo(psiTerm(0.1, 0), 12);
  });

  it('keeps the last 9–10 slices of the window, and alerts once per feature per window', () => {
    const features = resolveFeatures(['creditScore']);
    const profile: ReferenceProfile = { rows: 100, features: [{ name: 'creditScore', edges: [650], shares: [0.5, 0.5] }] };
    const alerts: string[] = [];
    const monitor = new DriftMonitor('m-1', profile, features, { window: 100, onAlert: (a) => alerts.push(`${a.feature} ${a.psi.toFixed(2)}`) });
    const observe = (score: number) => monitor.observeBatch(Float32Array.of(score), 1, [0.1], 0, 1);
    // 90 balanced applications: 9 full slices of 10, the minimum for a window of 100
    for (let i = 0; i < 90; i++) observe(i % 2 ? 600 : 700);
    expect(monitor.snapshot().features[0].psi).toBe(0);
    // then only low scores: an alert as the first slice in which the PSI is above 0.25 fills, none for the rest of that window
    for (let i = 0; i < 100; i++) observe(600);
    expect(alerts).toHaveLength(1);
    const snapshot = monitor.snapshot();
    expect(snapshot.window.applications).toBe(100);
    expect(snapshot.features[0].psi).toBeCloseTo(psi([0.5, 0.5], [1, 0]), 12);
    expect(snapshot.alerts).toEqual(['creditScore']);
    // a window later, still shifted: the next line
    for (let i = 0; i < 100; i++) observe(600);
    expect(alerts).toHaveLength(2);
    expect(snapshot.meanProbabilityOfDefault).toBeCloseTo(0.1, 12);
  });

  it('counts a batch that spans slices as it counts its applications one by one', () => {
    const features = resolveFeatures(['creditScore', 'homeOwnership=RENT', 'homeOwnership=OWN']);
    const profile: ReferenceProfile = {
      rows: 100,
      features: [
        { name: 'creditScore', edges: [600, 700], shares: [0.3, 0.4, 0.3] },
        { name: 'homeOwnership', categories: ['RENT', 'OWN'], shares: [0.5, 0.5] },
      ],
      probabilityOfDefault: { edges: [0.1], shares: [0.5, 0.5] },
    };
    const rows = 250;
    const matrix = new Float32Array(rows * 3);
    const probabilities = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      matrix.set([550 + ((i * 37) % 250), i % 3 === 0 ? 1 : 0, i % 3 === 1 ? 1 : 0], i * 3);
      probabilities[i] = (i % 7) / 20;
    }
    const now = () => 0;
    const whole = new DriftMonitor('m-1', profile, features, { window: 100, now });
    const one = new DriftMonitor('m-1', profile, features, { window: 100, now });
    whole.observeBatch(matrix, 3, probabilities, 0, rows);
    for (let i = 0; i < rows; i++) one.observeBatch(matrix, 3, probabilities, i, i + 1);
    expect(whole.snapshot()).toEqual(one.snapshot());
    // the last 10 slices of 10: rows 150 to 249; a third of them in neither category listed
    const snapshot = whole.snapshot();
    expect(snapshot.window.applications).toBe(100);
    const home = snapshot.features.find((f) => f.feature === 'homeOwnership')!;
    expect(home.largestShifts.map((s) => [s.bin, s.windowShare])).toContainEqual(['(a category outside the profile)', 0.33]);
  });

  it('is refused at load when the profile names what the model has no column for', async () => {
    const dir = copyModelDir('9.7.0');
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
      manifest.profile.features[0].name = 'shoeSize';
      writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest));
      await expect(ScoringModel.create(dir)).rejects.toThrow(ModelLoadError);
      await expect(ScoringModel.create(dir)).rejects.toThrow(/profile names feature "shoeSize", which is not a numeric feature of the model/);
    } finally {
      rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });
});

describe("the trainer's profile", () => {
  const manifest = manifestSchema.parse(JSON.parse(readFileSync(path.join(DEFAULT_MODEL_DIR, 'model.json'), 'utf8')));

  it('takes deciles by sort and index, without repeats or an empty last bin', () => {
    expect(decileEdges([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(decileEdges([0, 0, 0, 0, 0, 0, 0, 1, 1, 2])).toEqual([0, 1]);
    expect(decileEdges([5, 5, 5])).toEqual([]);
  });

  it("is in the committed model: every explained field, decile shares near 0.1, the score's too", () => {
    const profile = manifest.profile!;
    expect(profile.rows).toBe(manifest.metrics.trainRows);
    expect(profile.features.map((f) => f.name)).toEqual(['annualIncome', 'monthlyDebt', 'loanAmount', 'loanTermMonths', 'creditScore', 'employmentYears', 'openCreditLines', 'delinquencies2y', 'revolvingUtilization', 'debtToIncome', 'loanToIncome', 'homeOwnership', 'loanPurpose']);
    for (const name of ['annualIncome', 'creditScore', 'debtToIncome', 'loanToIncome']) {
      const f = profile.features.find((p) => p.name === name)!;
      expect(f.edges, name).toHaveLength(9);
      for (const s of f.shares) expect(Math.abs(s - 0.1), name).toBeLessThan(0.01);
    }
    expect(profile.features.find((f) => f.name === 'homeOwnership')).toMatchObject({ categories: ['RENT', 'MORTGAGE', 'OWN', 'OTHER'] });
    expect(profile.probabilityOfDefault!.shares).toHaveLength(10);
  });
});

describe('npm run data -- --shift', () => {
  it('reads field=±N% and field=±N, and refuses anything else naming the part', () => {
    const shift = parseShift(SHIFT);
    expect(shift).toEqual([
      { field: 'annualIncome', kind: 'relative', amount: -0.3 },
      { field: 'creditScore', kind: 'absolute', amount: -40 },
    ]);
    expect(formatShift(shift)).toBe(SHIFT);
    expect(() => parseShift('income=-20%')).toThrow(/income is not one of annualIncome, /);
    expect(() => parseShift('creditScore=lower')).toThrow(/"creditScore=lower" is not field=±N/);
    expect(() => parseShift('annualIncome=-100%')).toThrow(/above -100%/);
  });

  it('moves only the named fields, rounded as they are and kept inside their rules', () => {
    const [row] = generateLoanBook(1, SEED);
    const moved = applyShift({ ...row.application, creditScore: 320, annualIncome: 65_001 }, parseShift(SHIFT));
    expect(moved).toEqual({ ...row.application, creditScore: 300, annualIncome: 45_500.7 });
    // the same draws, moved: the labels follow the shifted applications
    expect(generateLoanBook(50, SEED, parseShift(SHIFT)).map((r) => r.application)).toEqual(
      generateLoanBook(50, SEED).map((r) => applyShift(r.application, parseShift(SHIFT))),
    );
  });
});

describe('the drift scenario through the API', () => {
  let unshifted: Awaited<ReturnType<typeof startLoggedApp>>;
  let shifted: Awaited<ReturnType<typeof startLoggedApp>>;
  let shiftedDecisions: Array<{ outcome: string; probabilityOfDefault: number }>;
  beforeAll(async () => {
    [unshifted, shifted] = await Promise.all([startLoggedApp({ MONITOR_WINDOW: String(WINDOW) }), startLoggedApp({ MONITOR_WINDOW: String(WINDOW) })]);
    await send(unshifted as unknown as TestApp, generateLoanBook(WINDOW, SEED).map((r) => r.application));
    shiftedDecisions = await send(shifted as unknown as TestApp, generateLoanBook(WINDOW, SEED, parseShift(SHIFT)).map((r) => r.application));
  });
  afterAll(async () => {
    await Promise.all([unshifted?.close(), shifted?.close()]);
  });
  const warnings = (app: typeof shifted) => app.lines().filter((l) => l.msg === 'drift: PSI above MONITOR_PSI_ALERT');

  it('an unshifted population stays far below the alert, and nothing is logged', async () => {
    const m = await monitoring(unshifted as unknown as TestApp);
    expect(m.status).toBe('ACTIVE');
    expect(m.window).toMatchObject({ capacity: WINDOW, applications: WINDOW, minApplications: 1000 });
    const psis = psiOf(m);
    expect(Object.keys(psis).sort()).toEqual([...MOVED, ...UNMOVED].sort());
    for (const [feature, value] of Object.entries(psis)) expect(value, feature).toBeLessThan(0.02);
    expect(m.alerts).toEqual([]);
    expect(warnings(unshifted)).toEqual([]);
  });

  it('a shifted population crosses the alert on the features computed from the shifted fields, and the score, only', async () => {
    const m = await monitoring(shifted as unknown as TestApp);
    const psis = psiOf(m);
    // incomes 30 % lower with the same debts and loans: annualIncome, and debtToIncome and loanToIncome rise by 1/0.7
    for (const feature of MOVED) expect(psis[feature], feature).toBeGreaterThan(0.35);
    // every other field is drawn exactly as in training: sampling noise only
    for (const feature of UNMOVED) expect(psis[feature], feature).toBeLessThan(0.02);
    expect([...m.alerts].sort()).toEqual(MOVED);
    // the features, highest PSI first: the moved ones lead
    expect(m.features.slice(0, 4).map((f) => f.feature).sort()).toEqual(MOVED.filter((f) => f !== SCORE_FEATURE));
    // lower scores: the bottom decile (≤ 629) holds nearly three times its training tenth
    const creditScore = m.features.find((f) => f.feature === 'creditScore')!;
    const bottom = creditScore.largestShifts[0];
    expect(bottom).toMatchObject({ bin: '≤ 629', lower: null, upper: 629 });
    expect(bottom.windowShare).toBeGreaterThan(2.5 * bottom.trainingShare);
  });

  it('logs one warning per moved feature for the window, however many requests and slices it took', () => {
    const lines = warnings(shifted);
    expect(lines.map((l) => l.feature).sort()).toEqual(MOVED);
    for (const line of lines) {
      expect(line.level).toBe(40);
      expect(line).toMatchObject({ modelVersion: VERSION, psiAlert: 0.25, applications: 1000 });
      expect(line.psi).toBeGreaterThan(0.25);
      expect(line.largestShifts.length).toBeGreaterThan(0);
    }
  });

  it("reports the window's outcome rates (policy included) and mean probability of default", async () => {
    const m = await monitoring(shifted as unknown as TestApp);
    for (const outcome of ['APPROVE', 'REFER', 'DECLINE']) {
      const count = shiftedDecisions.filter((d) => d.outcome === outcome).length;
      expect(m.outcomeRates.find((r) => r.outcome === outcome)).toEqual({ outcome, count, rate: count / WINDOW });
    }
    const mean = shiftedDecisions.reduce((s, d) => s + d.probabilityOfDefault, 0) / WINDOW;
    expect(m.meanProbabilityOfDefault).toBeCloseTo(mean, 6);
    expect(m.window.since).not.toBeNull();
    expect(m.window.ageSeconds).toBeGreaterThanOrEqual(0);
  });

  it('exports the PSI per feature, the outcome rates and the mean on /metrics', async () => {
    const metrics = parseMetrics((await scrapeMetricsText(shifted)).text);
    const v = { model_version: VERSION };
    for (const feature of MOVED) expect(metricSum(metrics, 'loan_api_drift_psi', { feature, ...v }), feature).toBeGreaterThan(0.35);
    for (const feature of UNMOVED) expect(metricSum(metrics, 'loan_api_drift_psi', { feature, ...v }), feature).toBeLessThan(0.02);
    expect(metricSum(metrics, 'loan_api_outcome_rate', v)).toBeCloseTo(1, 9);
    expect(metricSum(metrics, 'loan_api_mean_probability_of_default', v)).toBeGreaterThan(0.15);
    expect(metricSum(metrics, 'loan_api_drift_window_applications', v)).toBe(WINDOW);
  });
});

describe('without a reference, switched off, and across a swap', () => {
  let modelsDir: string;
  beforeAll(() => {
    modelsDir = tempModelsDir();
  });
  afterAll(() => {
    rmSync(modelsDir, { recursive: true, force: true });
  });

  it('a model whose manifest has no profile serves, and monitoring says it has no reference', async () => {
    const dir = copyModelDir('2.0.0', undefined, modelsDir);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8'));
    delete manifest.profile;
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(manifest, null, 2));
    const app = await startTestApp({ MODEL_DIR: dir });
    const decisions = await send(app, generateLoanBook(1200, SEED).map((r) => r.application));
    const m = await monitoring(app);
    expect(m.status).toBe('NO_REFERENCE');
    expect(m).toMatchObject({ features: [], score: null, alerts: [] });
    // outcome rates and the mean need no reference
    expect(m.outcomeRates.reduce((s, r) => s + r.count, 0)).toBe(decisions.length);
    expect(m.meanProbabilityOfDefault).toBeGreaterThan(0);
    const metrics = parseMetrics((await scrapeMetricsText(app)).text);
    expect(metricSum(metrics, 'loan_api_drift_psi')).toBe(0);
    expect(metricSum(metrics, 'loan_api_outcome_rate')).toBeCloseTo(1, 9);
  });

  it('MONITOR=off counts nothing', async () => {
    const app = await startTestApp({ MONITOR: 'off' });
    await send(app, generateLoanBook(100, SEED).map((r) => r.application));
    expect(await monitoring(app)).toMatchObject({ status: 'OFF', features: [], outcomeRates: [], window: { applications: 0 } });
    expect([...parseMetrics((await scrapeMetricsText(app)).text).keys()].some((k) => k.startsWith('loan_api_drift_'))).toBe(false);
  });

  it('a hot swap starts a new window for the new version', async () => {
    const next = copyModelDir('2.1.0', undefined, modelsDir);
    const app = await startTestApp({ ADMIN_KEY_SHA256: KEY_ENV.ADMIN_KEY_SHA256, MODELS_DIR: modelsDir, MONITOR_WINDOW: String(WINDOW) });
    await send(app, generateLoanBook(1000, SEED).map((r) => r.application));
    expect((await monitoring(app)).status).toBe('ACTIVE');
    const { json } = await post(
      app,
      { query: 'mutation($dir: String) { reloadModel(dir: $dir) { version monitoring { status window { applications } } } }', variables: { dir: fromProject(next) } },
      { 'x-admin-key': ADMIN_KEY },
    );
    expect(json.data.reloadModel).toEqual({ version: '2.1.0', monitoring: { status: 'COLLECTING', window: { applications: 0 } } });
    const metrics = parseMetrics((await scrapeMetricsText(app)).text);
    // the gauges follow the serving model: the old version's series are gone
    const windows = [...metrics].filter(([key]) => key.startsWith('loan_api_drift_window_applications{'));
    expect(windows).toEqual([['loan_api_drift_window_applications{model_version="loan-default-lr-2.1.0"}', 0]]);
  });
});
