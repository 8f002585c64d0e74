import { describe, expect, it } from 'vitest';
import type { LoanApplication } from '../src/model/application.js';
import { applicationErrors } from '../src/decisions/rules.js';
import { formatLoanBookCsv, parseLoanBookCsv } from '../training/csv.js';
import { quantile } from '../training/metrics.js';
import {
  HOME_OWNERSHIP_SHARES,
  LOAN_PURPOSE_SHARES,
  generateLoanBook,
  mulberry32,
  shuffledIndices,
  trueDefaultProbability,
} from '../training/synthetic.js';

// The bands documented in data/README.md ("band the tests check").
const book = generateLoanBook(20_000, 20260101);
const apps = book.map((r) => r.application);
const share = (predicate: (a: LoanApplication) => boolean) => apps.filter(predicate).length / apps.length;
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('mulberry32', () => {
  it('is deterministic and uniform-looking on [0, 1)', () => {
    const a = mulberry32(1);
    const b = mulberry32(1);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(Array.from({ length: 10_000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(mean(xs)).toBeCloseTo(0.5, 1);
  });

  it('shuffles to a permutation that depends on the seed', () => {
    const p = Array.from(shuffledIndices(1000, 3));
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(shuffledIndices(1000, 3))).toEqual(p);
    expect(Array.from(shuffledIndices(1000, 4))).not.toEqual(p);
  });
});

describe('generateLoanBook', () => {
  it('gives the same rows for the same seed and different rows for another seed', () => {
    expect(generateLoanBook(500, 20260101)).toEqual(book.slice(0, 500));
    const other = generateLoanBook(500, 20260102);
    expect(other).not.toEqual(book.slice(0, 500));
    expect(other.filter((r, i) => r.application.annualIncome === book[i].application.annualIncome).length).toBeLessThan(25);
  });

  it('generates only applications that break no rule', () => {
    const failures = apps.filter((a) => applicationErrors(a).length > 0);
    expect(failures).toEqual([]);
  });

  it('has a default rate between 10% and 20%', () => {
    const rate = mean(book.map((r) => r.defaulted));
    expect(rate).toBeGreaterThan(0.1);
    expect(rate).toBeLessThan(0.2);
    // labels follow the true probability
    expect(Math.abs(rate - mean(apps.map(trueDefaultProbability)))).toBeLessThan(0.01);
  });

  it('has the documented marginals', () => {
    const income = apps.map((a) => a.annualIncome);
    expect(quantile(income, 0.5)).toBeGreaterThan(60_000);
    expect(quantile(income, 0.5)).toBeLessThan(70_000);

    const scores = apps.map((a) => a.creditScore);
    expect(mean(scores)).toBeGreaterThan(690);
    expect(mean(scores)).toBeLessThan(710);
    expect(Math.min(...scores)).toBeGreaterThanOrEqual(300);
    expect(Math.max(...scores)).toBeLessThanOrEqual(850);

    const term36 = share((a) => a.loanTermMonths === 36);
    const term60 = share((a) => a.loanTermMonths === 60);
    expect(term36).toBeGreaterThan(0.55);
    expect(term36).toBeLessThan(0.7);
    expect(term60).toBeGreaterThan(0.2);
    expect(term60).toBeLessThan(0.32);
    expect(new Set(apps.map((a) => a.loanTermMonths)).size).toBeGreaterThan(5);

    const amount = quantile(apps.map((a) => a.loanAmount), 0.5);
    expect(amount).toBeGreaterThan(11_000);
    expect(amount).toBeLessThan(16_000);

    const dti = quantile(apps.map((a) => (a.monthlyDebt * 12) / a.annualIncome), 0.5);
    expect(dti).toBeGreaterThan(0.14);
    expect(dti).toBeLessThan(0.19);

    const utilization = mean(apps.map((a) => a.revolvingUtilization));
    expect(utilization).toBeGreaterThan(0.38);
    expect(utilization).toBeLessThan(0.47);

    for (const [value, expected] of Object.entries(HOME_OWNERSHIP_SHARES)) {
      expect(Math.abs(share((a) => a.homeOwnership === value) - expected), value).toBeLessThan(0.02);
    }
    for (const [value, expected] of Object.entries(LOAN_PURPOSE_SHARES)) {
      expect(Math.abs(share((a) => a.loanPurpose === value) - expected), value).toBeLessThan(0.02);
    }
  });

  it('makes risk rise as the credit score falls, faster below 620', () => {
    const base = apps[0];
    const p = (creditScore: number) => trueDefaultProbability({ ...base, creditScore });
    expect(p(600)).toBeGreaterThan(p(640));
    expect(p(640)).toBeGreaterThan(p(700));
    const slopeAbove = Math.log(p(640) / (1 - p(640))) - Math.log(p(660) / (1 - p(660)));
    const slopeBelow = Math.log(p(580) / (1 - p(580))) - Math.log(p(600) / (1 - p(600)));
    expect(slopeBelow).toBeGreaterThan(slopeAbove * 2);
  });

  it('round-trips through the CSV exactly, so the oracle can be recomputed from the file', () => {
    const small = book.slice(0, 2000);
    const parsed = parseLoanBookCsv(formatLoanBookCsv(small));
    expect(parsed.rows.map(({ application, defaulted }) => ({ application, defaulted }))).toEqual(small);
    expect(parsed.rows.map((r) => trueDefaultProbability(r.application))).toEqual(
      small.map((r) => trueDefaultProbability(r.application)),
    );
  });
});
