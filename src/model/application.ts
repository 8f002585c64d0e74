export const LOAN_PURPOSES = [
  'DEBT_CONSOLIDATION',
  'CREDIT_CARD',
  'HOME_IMPROVEMENT',
  'AUTO',
  'BUSINESS',
  'MEDICAL',
  'EDUCATION',
  'OTHER',
] as const;
export type LoanPurpose = (typeof LOAN_PURPOSES)[number];

export const HOME_OWNERSHIPS = ['RENT', 'MORTGAGE', 'OWN', 'OTHER'] as const;
export type HomeOwnership = (typeof HOME_OWNERSHIPS)[number];

/** The numeric fields of an application, in catalogue order. */
export const NUMERIC_FIELDS = [
  'annualIncome',
  'monthlyDebt',
  'loanAmount',
  'loanTermMonths',
  'creditScore',
  'employmentYears',
  'openCreditLines',
  'delinquencies2y',
  'revolvingUtilization',
] as const;
export type NumericField = (typeof NUMERIC_FIELDS)[number];

export interface LoanApplication {
  applicationRef?: string | null;
  annualIncome: number;
  monthlyDebt: number;
  loanAmount: number;
  loanTermMonths: number;
  loanPurpose: LoanPurpose;
  creditScore: number;
  employmentYears: number;
  homeOwnership: HomeOwnership;
  openCreditLines: number;
  delinquencies2y: number;
  revolvingUtilization: number;
}
