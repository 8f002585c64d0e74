import type { NumericField } from '../model/application.js';
import { CATEGORICAL_FIELDS, type CategoricalField, type DerivedFeature, type ExplainedField } from '../model/features.js';

/**
 * The decision vocabulary of the model's reasons: which code a decision cites when an explained field raised the
 * risk. The feature catalogue says what a model can see; what a lender tells an applicant is decided here.
 */
const FIELD_CODES: Record<NumericField | DerivedFeature, string> = {
  annualIncome: 'INCOME',
  monthlyDebt: 'MONTHLY_DEBT',
  loanAmount: 'LOAN_AMOUNT',
  loanTermMonths: 'LOAN_TERM',
  creditScore: 'CREDIT_SCORE',
  employmentYears: 'EMPLOYMENT_LENGTH',
  openCreditLines: 'OPEN_CREDIT_LINES',
  delinquencies2y: 'DELINQUENCIES',
  revolvingUtilization: 'REVOLVING_UTILIZATION',
  debtToIncome: 'DEBT_TO_INCOME',
  loanToIncome: 'LOAN_TO_INCOME',
};

/** A categorical field cites `<prefix>_<the applicant's category>`, so a reason never names a category they are not in. */
const CATEGORY_PREFIXES: Record<CategoricalField, string> = {
  homeOwnership: 'HOME_OWNERSHIP',
  loanPurpose: 'LOAN_PURPOSE',
};

/** The code for a field that raised the risk; for a categorical field, `category` is the applicant's own. */
export function modelReasonCode(field: ExplainedField, category: string | undefined): string {
  if (Object.hasOwn(CATEGORY_PREFIXES, field)) {
    if (category === undefined) throw new Error(`the categorical field "${field}" needs the applicant's category`);
    return `${CATEGORY_PREFIXES[field as CategoricalField]}_${category}`;
  }
  return FIELD_CODES[field as NumericField | DerivedFeature];
}

/** Every code a model reason can cite: one per numeric or derived field, one per category of a categorical field. */
export const MODEL_REASON_CODES: readonly string[] = [
  ...Object.values(FIELD_CODES),
  ...Object.entries(CATEGORICAL_FIELDS).flatMap(([field, categories]) =>
    categories.map((category) => modelReasonCode(field as CategoricalField, category)),
  ),
];
