import { APPLICATION_REF_MAX_LENGTH, NUMBER_RULES } from '../model/application.js';
import { builder } from './builder.js';
import { HomeOwnership } from './home-ownership.js';
import { LoanPurpose } from './loan-purpose.js';

function range(field: keyof typeof NUMBER_RULES, what: string): string {
  const r = NUMBER_RULES[field];
  return `${what}; ${r.minInclusive ? '≥' : '>'} ${r.min.toLocaleString('en-US')} and ≤ ${r.max.toLocaleString('en-US')}`;
}

export const LoanApplicationInput = builder.inputType('LoanApplicationInput', {
  description: 'A loan application. Rules beyond the types are checked by the service and reported as InvalidApplication.',
  fields: (t) => ({
    applicationRef: t.string({
      required: false,
      description: `The client's own reference, echoed back; at most ${APPLICATION_REF_MAX_LENGTH} characters`,
    }),
    annualIncome: t.float({ required: true, description: range('annualIncome', 'Gross annual income') }),
    monthlyDebt: t.float({ required: true, description: range('monthlyDebt', 'Existing monthly debt payments') }),
    loanAmount: t.float({ required: true, description: range('loanAmount', 'Requested amount') }),
    loanTermMonths: t.int({ required: true, description: range('loanTermMonths', 'Term in months') }),
    loanPurpose: t.field({ type: LoanPurpose, required: true }),
    creditScore: t.int({ required: true, description: range('creditScore', 'Credit bureau score') }),
    employmentYears: t.float({ required: true, description: range('employmentYears', 'Years in employment') }),
    homeOwnership: t.field({ type: HomeOwnership, required: true }),
    openCreditLines: t.int({ required: true, description: range('openCreditLines', 'Open credit lines') }),
    delinquencies2y: t.int({ required: true, description: range('delinquencies2y', 'Delinquencies in the last two years') }),
    revolvingUtilization: t.float({
      required: true,
      description: range('revolvingUtilization', 'Share of revolving credit in use'),
    }),
  }),
});
