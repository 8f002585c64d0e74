import type { LoanApplication } from '../../src/model/application.js';

/** An ordinary application (the README's kind): the load tests and the benchmarks send it. */
export const sampleApplication: LoanApplication = {
  annualIncome: 65000,
  monthlyDebt: 800,
  loanAmount: 15000,
  loanTermMonths: 36,
  loanPurpose: 'DEBT_CONSOLIDATION',
  creditScore: 710,
  employmentYears: 5,
  homeOwnership: 'RENT',
  openCreditLines: 6,
  delinquencies2y: 0,
  revolvingUtilization: 0.35,
};

export const goodApplication: LoanApplication = {
  applicationRef: 'good-1',
  annualIncome: 120_000,
  monthlyDebt: 500,
  loanAmount: 10_000,
  loanTermMonths: 36,
  loanPurpose: 'HOME_IMPROVEMENT',
  creditScore: 800,
  employmentYears: 12,
  homeOwnership: 'MORTGAGE',
  openCreditLines: 8,
  delinquencies2y: 0,
  revolvingUtilization: 0.1,
};

export const riskyApplication: LoanApplication = {
  applicationRef: 'risky-1',
  annualIncome: 28_000,
  monthlyDebt: 1_100,
  loanAmount: 30_000,
  loanTermMonths: 60,
  loanPurpose: 'BUSINESS',
  creditScore: 560,
  employmentYears: 0.5,
  homeOwnership: 'RENT',
  openCreditLines: 3,
  delinquencies2y: 4,
  revolvingUtilization: 1.1,
};

/** A deterministic spread of valid applications. */
export function applications(count: number): LoanApplication[] {
  return Array.from({ length: count }, (_, i) => ({
    ...goodApplication,
    applicationRef: `app-${i}`,
    annualIncome: 30_000 + ((i * 7919) % 120_000),
    creditScore: 520 + ((i * 37) % 330),
    revolvingUtilization: ((i * 13) % 100) / 80,
    delinquencies2y: i % 5,
  }));
}
