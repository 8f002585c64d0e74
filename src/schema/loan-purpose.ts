import { LOAN_PURPOSES } from '../model/application.js';
import { builder } from './builder.js';

export const LoanPurpose = builder.enumType('LoanPurpose', { values: LOAN_PURPOSES });
