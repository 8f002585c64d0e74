import { HOME_OWNERSHIPS, LOAN_PURPOSES, NUMERIC_FIELDS, type LoanApplication, type NumericField } from './application.js';

/** The application fields a model sees one-hot encoded, one column per category (`<field>=<CATEGORY>`). */
export const CATEGORICAL_FIELDS = {
  homeOwnership: HOME_OWNERSHIPS,
  loanPurpose: LOAN_PURPOSES,
} as const satisfies Partial<Record<keyof LoanApplication, readonly string[]>>;
export type CategoricalField = keyof typeof CATEGORICAL_FIELDS;

/** Features computed from several fields, explained on their own (the fields they combine keep their own). */
export const DERIVED_FEATURES = ['debtToIncome', 'loanToIncome'] as const;
export type DerivedFeature = (typeof DERIVED_FEATURES)[number];

/**
 * What one explanation covers: a numeric application field, a derived feature, or a categorical field as a whole
 * (all of its one-hot columns at once).
 */
export type ExplainedField = NumericField | DerivedFeature | CategoricalField;

export interface CatalogueFeature {
  /** the model input column, as named in model.json */
  name: string;
  /** what this column is explained as part of; the one-hot columns of a categorical field share it */
  field: ExplainedField;
  /** for a one-hot column, the category it indicates */
  category?: string;
  description: string;
  compute: (application: LoanApplication) => number;
}

const NUMERIC_DESCRIPTIONS: Record<NumericField, string> = {
  annualIncome: 'Annual income',
  monthlyDebt: 'Existing monthly debt payments',
  loanAmount: 'Requested loan amount',
  loanTermMonths: 'Loan term in months',
  creditScore: 'Credit bureau score',
  employmentYears: 'Length of employment',
  openCreditLines: 'Number of open credit lines',
  delinquencies2y: 'Delinquencies in the last two years',
  revolvingUtilization: 'Share of revolving credit in use',
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
    field,
    description: NUMERIC_DESCRIPTIONS[field],
    compute: (a: LoanApplication) => a[field],
  })),
  {
    name: 'debtToIncome',
    field: 'debtToIncome',
    description: 'Existing debt payments relative to income (monthlyDebt × 12 / annualIncome)',
    compute: (a) => (a.monthlyDebt * 12) / a.annualIncome,
  },
  {
    name: 'loanToIncome',
    field: 'loanToIncome',
    description: 'Loan amount relative to income (loanAmount / annualIncome)',
    compute: (a) => a.loanAmount / a.annualIncome,
  },
  ...HOME_OWNERSHIPS.map((value) => ({
    name: `homeOwnership=${value}`,
    field: 'homeOwnership' as const,
    category: value,
    description: `Home ownership: ${ENUM_LABELS[value]}`,
    compute: (a: LoanApplication) => (a.homeOwnership === value ? 1 : 0),
  })),
  ...LOAN_PURPOSES.map((value) => ({
    name: `loanPurpose=${value}`,
    field: 'loanPurpose' as const,
    category: value,
    description: `Loan purpose: ${ENUM_LABELS[value]}`,
    compute: (a: LoanApplication) => (a.loanPurpose === value ? 1 : 0),
  })),
];

export const FEATURES_BY_NAME: ReadonlyMap<string, CatalogueFeature> = new Map(
  FEATURE_CATALOGUE.map((f) => [f.name, f]),
);

/** The category of a categorical field this application is in. */
export function categoryOf(application: LoanApplication, field: CategoricalField): string {
  return application[field];
}

export function isCategoricalField(field: string): field is CategoricalField {
  return Object.hasOwn(CATEGORICAL_FIELDS, field);
}

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
