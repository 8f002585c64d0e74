import { HOME_OWNERSHIPS, LOAN_PURPOSES, NUMERIC_FIELDS, type LoanApplication } from './application.js';

export interface CatalogueFeature {
  name: string;
  /** stable adverse-action reason code for this feature */
  reasonCode: string;
  description: string;
  compute: (application: LoanApplication) => number;
}

const NUMERIC_DESCRIPTIONS: Record<(typeof NUMERIC_FIELDS)[number], [code: string, description: string]> = {
  annualIncome: ['INCOME', 'Annual income'],
  monthlyDebt: ['MONTHLY_DEBT', 'Existing monthly debt payments'],
  loanAmount: ['LOAN_AMOUNT', 'Requested loan amount'],
  loanTermMonths: ['LOAN_TERM', 'Loan term in months'],
  creditScore: ['CREDIT_SCORE', 'Credit bureau score'],
  employmentYears: ['EMPLOYMENT_LENGTH', 'Length of employment'],
  openCreditLines: ['OPEN_CREDIT_LINES', 'Number of open credit lines'],
  delinquencies2y: ['DELINQUENCIES', 'Delinquencies in the last two years'],
  revolvingUtilization: ['REVOLVING_UTILIZATION', 'Share of revolving credit in use'],
};

const ENUM_LABELS: Record<string, string> = {
  DEBT_CONSOLIDATION: 'debt consolidation',
  CREDIT_CARD: 'credit card refinancing',
  HOME_IMPROVEMENT: 'home improvement',
  AUTO: 'auto',
  BUSINESS: 'business',
  MEDICAL: 'medical',
  EDUCATION: 'education',
  OTHER: 'other',
  RENT: 'renting',
  MORTGAGE: 'paying a mortgage',
  OWN: 'owning outright',
};

/**
 * Every feature the service can compute from an application. A model picks its features from here by name,
 * in any order; the names are part of the model contract (models/README.md).
 */
export const FEATURE_CATALOGUE: readonly CatalogueFeature[] = [
  ...NUMERIC_FIELDS.map((field) => ({
    name: field,
    reasonCode: NUMERIC_DESCRIPTIONS[field][0],
    description: NUMERIC_DESCRIPTIONS[field][1],
    compute: (a: LoanApplication) => a[field],
  })),
  {
    name: 'debtToIncome',
    reasonCode: 'DEBT_TO_INCOME',
    description: 'Existing debt payments relative to income (monthlyDebt × 12 / annualIncome)',
    compute: (a) => (a.monthlyDebt * 12) / a.annualIncome,
  },
  {
    name: 'loanToIncome',
    reasonCode: 'LOAN_TO_INCOME',
    description: 'Loan amount relative to income (loanAmount / annualIncome)',
    compute: (a) => a.loanAmount / a.annualIncome,
  },
  ...HOME_OWNERSHIPS.map((value) => ({
    name: `homeOwnership=${value}`,
    reasonCode: `HOME_OWNERSHIP_${value}`,
    description: `Home ownership: ${ENUM_LABELS[value]}`,
    compute: (a: LoanApplication) => (a.homeOwnership === value ? 1 : 0),
  })),
  ...LOAN_PURPOSES.map((value) => ({
    name: `loanPurpose=${value}`,
    reasonCode: `LOAN_PURPOSE_${value}`,
    description: `Loan purpose: ${ENUM_LABELS[value]}`,
    compute: (a: LoanApplication) => (a.loanPurpose === value ? 1 : 0),
  })),
];

export const FEATURES_BY_NAME: ReadonlyMap<string, CatalogueFeature> = new Map(
  FEATURE_CATALOGUE.map((f) => [f.name, f]),
);

/** Resolves feature names against the catalogue; throws naming every unknown one. */
export function resolveFeatures(names: readonly string[]): CatalogueFeature[] {
  const unknown = names.filter((n) => !FEATURES_BY_NAME.has(n));
  if (unknown.length > 0) {
    throw new Error(`unknown feature name(s) ${unknown.map((n) => `"${n}"`).join(', ')}: not in the feature catalogue`);
  }
  return names.map((n) => FEATURES_BY_NAME.get(n)!);
}

/**
 * Encodes applications row-major into `out` starting at row `offset`, one column per feature.
 * Writing into a caller's buffer lets a batch and its counterfactual rows share one tensor.
 */
export function encodeInto(
  out: Float32Array,
  offset: number,
  applications: readonly LoanApplication[],
  features: readonly CatalogueFeature[],
): void {
  const width = features.length;
  for (let i = 0; i < applications.length; i++) {
    const base = (offset + i) * width;
    const application = applications[i];
    for (let j = 0; j < width; j++) out[base + j] = features[j].compute(application);
  }
}

export function encode(applications: readonly LoanApplication[], features: readonly CatalogueFeature[]): Float32Array {
  const out = new Float32Array(applications.length * features.length);
  encodeInto(out, 0, applications, features);
  return out;
}
