/**
 * A seeded, deterministic SYNTHETIC loan book. Nothing here describes real applicants: every value is drawn from the
 * distributions below, and each row's `defaulted` flag is a Bernoulli draw from `trueDefaultProbability`, a known
 * function of the row's fields. data/README.md documents the process formula by formula; keep the two in step.
 *
 * Pure: no Math.random, no clock, no I/O. The same (rows, seed) always gives the same book, bit for bit.
 */
import {
  HOME_OWNERSHIPS,
  LOAN_PURPOSES,
  type HomeOwnership,
  type LoanApplication,
  type LoanPurpose,
} from '../src/model/application.js';
import { applyShift, type Shift } from './shift.js';

/** Bumped whenever the generating process changes, so an old sidecar no longer vouches for a new book. */
export const GENERATOR_VERSION = 'synthetic-loan-book/1';
export const DEFAULT_SEED = 20260101;
export const DEFAULT_ROWS = 50_000;

// ---------------------------------------------------------------------------------------------------------------
// Pseudo-random numbers

/** A uniform generator on [0, 1). */
export type Rng = () => number;

/** mulberry32: a small 32-bit PRNG with a full 2^32 period; plenty for a synthetic book and a shuffle. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller, one value per call; 1 − u keeps the logarithm finite). */
export function normal(rng: Rng): number {
  const u1 = 1 - rng();
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A Poisson draw (Knuth's product method; fine for the small means used here). */
export function poisson(rng: Rng, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  let product = rng();
  while (product > limit) {
    k++;
    product *= rng();
  }
  return k;
}

/** Picks a value with the given weights (they need not sum to 1). */
export function pick<T>(rng: Rng, choices: readonly (readonly [T, number])[]): T {
  const total = choices.reduce((s, [, w]) => s + w, 0);
  let u = rng() * total;
  for (const [value, weight] of choices) {
    if (u < weight) return value;
    u -= weight;
  }
  return choices[choices.length - 1][0];
}

/** Fisher–Yates shuffle of 0..n−1 driven by a seeded generator. */
export function shuffledIndices(n: number, seed: number): Uint32Array {
  const rng = mulberry32(seed);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const roundTo = (x: number, step: number) => Math.round(x / step) * step;
/** Rounds to `decimals` places through the decimal string, so the CSV text and the number agree exactly. */
const roundDecimals = (x: number, decimals: number) => Number(x.toFixed(decimals));

// ---------------------------------------------------------------------------------------------------------------
// Marginals

export const HOME_OWNERSHIP_SHARES: Record<HomeOwnership, number> = { RENT: 0.4, MORTGAGE: 0.42, OWN: 0.11, OTHER: 0.07 };

export const LOAN_PURPOSE_SHARES: Record<LoanPurpose, number> = {
  DEBT_CONSOLIDATION: 0.45,
  CREDIT_CARD: 0.2,
  HOME_IMPROVEMENT: 0.09,
  AUTO: 0.07,
  BUSINESS: 0.05,
  MEDICAL: 0.04,
  EDUCATION: 0.03,
  OTHER: 0.07,
};

/** How the requested amount scales with the purpose (multiplies the loan-to-income draw). */
export const LOAN_PURPOSE_AMOUNT_FACTOR: Record<LoanPurpose, number> = {
  DEBT_CONSOLIDATION: 1,
  CREDIT_CARD: 0.85,
  HOME_IMPROVEMENT: 1.2,
  AUTO: 1,
  BUSINESS: 1.4,
  MEDICAL: 0.6,
  EDUCATION: 0.8,
  OTHER: 0.7,
};

/** Terms other than 36 and 60 months, with their relative weights (drawn 12% of the time). */
export const OTHER_TERMS: readonly (readonly [number, number])[] = [
  [6, 1],
  [12, 3],
  [24, 4],
  [48, 3],
  [72, 2],
  [84, 1],
  [120, 1],
  [180, 0.5],
  [240, 0.5],
  [360, 0.3],
  [480, 0.2],
];

/** Draws one application. The order of draws is part of the format: changing it changes every book. */
export function drawApplication(rng: Rng): LoanApplication {
  const annualIncome = clamp(Math.round(Math.exp(Math.log(65_000) + 0.5 * normal(rng))), 8_000, 2_000_000);
  const homeOwnership = pick(rng, HOME_OWNERSHIPS.map((h) => [h, HOME_OWNERSHIP_SHARES[h]] as const));
  const loanPurpose = pick(rng, LOAN_PURPOSES.map((p) => [p, LOAN_PURPOSE_SHARES[p]] as const));

  const creditScore = clamp(Math.round(700 + 12 * Math.log(annualIncome / 65_000) + 55 * normal(rng)), 300, 850);

  const hasDebt = rng() >= 0.05;
  const existingDti = hasDebt ? clamp(0.17 + 0.09 * normal(rng), 0, 0.65) : 0;
  const monthlyDebt = roundDecimals((existingDti * annualIncome) / 12, 2);

  const loanToIncomeDraw = Math.exp(Math.log(0.22) + 0.55 * normal(rng)) * LOAN_PURPOSE_AMOUNT_FACTOR[loanPurpose];
  const loanAmount = clamp(roundTo(annualIncome * loanToIncomeDraw, 25), 1_000, 150_000);

  let loanTermMonths: number;
  if (rng() < 0.12) loanTermMonths = pick(rng, OTHER_TERMS);
  else loanTermMonths = rng() < (loanAmount > 20_000 ? 0.5 : 0.2) ? 60 : 36;

  const employmentYears = roundDecimals(Math.min(45, -6 * Math.log(1 - rng())), 1);
  const openCreditLines = Math.min(60, poisson(rng, 9));
  const delinquencies2y = Math.min(20, poisson(rng, 0.3 * Math.exp(-(creditScore - 700) / 60)));
  const revolvingUtilization = roundDecimals(clamp(0.42 - (creditScore - 700) / 350 + 0.22 * normal(rng), 0, 1.6), 3);

  return {
    annualIncome,
    monthlyDebt,
    loanAmount,
    loanTermMonths,
    loanPurpose,
    creditScore,
    employmentYears,
    homeOwnership,
    openCreditLines,
    delinquencies2y,
    revolvingUtilization,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The true default process

export const TRUE_INTERCEPT = -3.45;
export const TRUE_PURPOSE_EFFECT: Record<LoanPurpose, number> = {
  DEBT_CONSOLIDATION: 0,
  CREDIT_CARD: -0.1,
  HOME_IMPROVEMENT: -0.15,
  AUTO: -0.2,
  BUSINESS: 0.5,
  MEDICAL: 0.3,
  EDUCATION: 0.2,
  OTHER: 0.15,
};
export const TRUE_HOME_EFFECT: Record<HomeOwnership, number> = { RENT: 0.2, MORTGAGE: -0.1, OWN: 0, OTHER: 0.3 };

/** The log-odds of default of an application under the generating process (data/README.md, "Default process"). */
export function trueLogit(a: LoanApplication): number {
  const debtToIncome = (a.monthlyDebt * 12) / a.annualIncome;
  const loanToIncome = a.loanAmount / a.annualIncome;
  return (
    TRUE_INTERCEPT -
    0.011 * (a.creditScore - 700) +
    0.025 * Math.max(0, 620 - a.creditScore) +
    3.2 * debtToIncome +
    1.1 * loanToIncome +
    1.6 * a.revolvingUtilization ** 2 +
    0.3 * Math.min(a.delinquencies2y, 6) +
    0.4 * Math.log(a.loanTermMonths / 36) -
    0.04 * Math.min(a.employmentYears, 10) -
    0.15 * Math.log(a.annualIncome / 65_000) +
    TRUE_PURPOSE_EFFECT[a.loanPurpose] +
    TRUE_HOME_EFFECT[a.homeOwnership]
  );
}

/** The probability of default the synthetic book's labels are drawn from: the oracle score. */
export function trueDefaultProbability(a: LoanApplication): number {
  return 1 / (1 + Math.exp(-trueLogit(a)));
}

export interface SyntheticRow {
  application: LoanApplication;
  defaulted: 0 | 1;
}

/**
 * Generates a book of `rows` applications with seed `seed`. Row i depends only on the generator state after
 * rows 0..i−1, so a longer book with the same seed starts with the shorter one. With `shift`, each application is
 * shifted (training/shift.ts) before its label is drawn from the true probability: the same draws, moved.
 */
export function generateLoanBook(rows: number, seed: number = DEFAULT_SEED, shift?: Shift): SyntheticRow[] {
  if (!Number.isInteger(rows) || rows < 0) throw new Error(`rows must be a non-negative integer, got ${rows}`);
  const rng = mulberry32(seed);
  const book: SyntheticRow[] = [];
  for (let i = 0; i < rows; i++) {
    const drawn = drawApplication(rng);
    const application = shift ? applyShift(drawn, shift) : drawn;
    const defaulted = rng() < trueDefaultProbability(application) ? 1 : 0;
    book.push({ application, defaulted });
  }
  return book;
}

// ---------------------------------------------------------------------------------------------------------------
// The sidecar that marks a CSV as this generator's output

/** `<book>.meta.json`, written by `npm run data` next to the CSV. */
export interface SyntheticBookMetadata {
  synthetic: true;
  generator: string;
  seed: number;
  rows: number;
  defaultRate: number;
  /** AUC of trueDefaultProbability over the whole book (the trainer reports it on its held-out split) */
  oracleAucFullBook?: number;
  /** SHA-256 (hex) of the CSV file's bytes */
  sha256: string;
  /** the --shift the book was drawn with (a shifted population, for watching drift); absent for the training book */
  shift?: string;
}

/** data/loan-book.csv → data/loan-book.meta.json */
export function sidecarPath(csvPath: string): string {
  return csvPath.replace(/\.csv$/i, '') + '.meta.json';
}
