import type { NumericField } from '../model/application.js';
import { APPLICATION_REF_MAX_LENGTH, NUMBER_RULES } from '../decisions/rules.js';
import { builder } from './builder.js';
import { HomeOwnership } from './home-ownership.js';
import { LoanPurpose } from './loan-purpose.js';

type FieldBuilder = Parameters<Parameters<typeof builder.inputType>[1]['fields']>[0];

/** A numeric field from the rule table: Int or Float as the rule says, its range in the description. */
function numeric(t: FieldBuilder, field: NumericField, what: string) {
  const r = NUMBER_RULES[field];
  const description = `${what}; ${r.minInclusive ? '≥' : '>'} ${r.min.toLocaleString('en-US')} and ≤ ${r.max.toLocaleString('en-US')}`;
  return r.integer ? t.int({ required: true, description }) : t.float({ required: true, description });
}

export const LoanApplicationInput = builder.inputType('LoanApplicationInput', {
  description: 'A loan application. Rules beyond the types are checked by the service and reported as InvalidApplication.',
  fields: (t) => ({
    applicationRef: t.string({
      required: false,
      description: `The client's own reference, echoed back; at most ${APPLICATION_REF_MAX_LENGTH} characters, no control characters`,
    }),
    annualIncome: numeric(t, 'annualIncome', 'Gross annual income'),
    monthlyDebt: numeric(t, 'monthlyDebt', 'Existing monthly debt payments'),
    loanAmount: numeric(t, 'loanAmount', 'Requested amount'),
    loanTermMonths: numeric(t, 'loanTermMonths', 'Term in months'),
    loanPurpose: t.field({ type: LoanPurpose, required: true }),
    creditScore: numeric(t, 'creditScore', 'Credit bureau score'),
    employmentYears: numeric(t, 'employmentYears', 'Years in employment'),
    homeOwnership: t.field({ type: HomeOwnership, required: true }),
    openCreditLines: numeric(t, 'openCreditLines', 'Open credit lines'),
    delinquencies2y: numeric(t, 'delinquencies2y', 'Delinquencies in the last two years'),
    revolvingUtilization: numeric(t, 'revolvingUtilization', 'Share of revolving credit in use'),
  }),
});
