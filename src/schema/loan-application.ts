import type { LoanApplication as LoanApplicationShape } from '../model/application.js';
import { builder } from './builder.js';
import { HomeOwnership } from './home-ownership.js';
import { LoanPurpose } from './loan-purpose.js';

export const LoanApplication = builder.objectRef<LoanApplicationShape>('LoanApplication').implement({
  description: 'An application as the service received it (LoanApplicationInput)',
  fields: (t) => ({
    applicationRef: t.string({ nullable: true, resolve: (a) => a.applicationRef ?? null }),
    annualIncome: t.exposeFloat('annualIncome'),
    monthlyDebt: t.exposeFloat('monthlyDebt'),
    loanAmount: t.exposeFloat('loanAmount'),
    loanTermMonths: t.exposeInt('loanTermMonths'),
    loanPurpose: t.expose('loanPurpose', { type: LoanPurpose }),
    creditScore: t.exposeInt('creditScore'),
    employmentYears: t.exposeFloat('employmentYears'),
    homeOwnership: t.expose('homeOwnership', { type: HomeOwnership }),
    openCreditLines: t.exposeInt('openCreditLines'),
    delinquencies2y: t.exposeInt('delinquencies2y'),
    revolvingUtilization: t.exposeFloat('revolvingUtilization'),
  }),
});
