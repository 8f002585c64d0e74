/**
 * The application rules for untyped input (a loan-book CSV): zod checks types, enum values and every rule of the
 * one rule table (src/decisions/rules.ts), and reports all that are broken. The API does not use this: GraphQL types
 * its input, and the decision pipeline checks the ranges once.
 */
import { z } from 'zod';
import { HOME_OWNERSHIPS, LOAN_PURPOSES, type LoanApplication, type NumericField } from '../src/model/application.js';
import {
  APPLICATION_REF_MAX_LENGTH,
  CONTROL_CHARACTERS,
  describeRange,
  NUMBER_RULES,
  type FieldError,
} from '../src/decisions/rules.js';

function numberSchema(field: NumericField) {
  const rule = NUMBER_RULES[field];
  const message = `${field} must be ${rule.integer ? 'an integer ' : ''}${describeRange(rule)}`;
  let schema = z.number({ error: `${field} must be a number` }).refine(Number.isFinite, {
    message: `${field} must be a finite number`,
    params: { code: 'NOT_FINITE' },
    abort: true,
  });
  if (rule.integer) {
    schema = schema.refine(Number.isInteger, { message: `${field} must be an integer`, params: { code: 'NOT_INTEGER' } });
  }
  return schema.refine((v) => (rule.minInclusive ? v >= rule.min : v > rule.min) && v <= rule.max, {
    message,
    params: { code: 'OUT_OF_RANGE' },
  });
}

export const loanApplicationSchema = z.object({
  applicationRef: z
    .string()
    .max(APPLICATION_REF_MAX_LENGTH, {
      message: `applicationRef must be at most ${APPLICATION_REF_MAX_LENGTH} characters`,
    })
    .refine((v) => !CONTROL_CHARACTERS.test(v), {
      message: 'applicationRef must not contain control characters',
      params: { code: 'CONTROL_CHARACTER' },
    })
    .nullish(),
  annualIncome: numberSchema('annualIncome'),
  monthlyDebt: numberSchema('monthlyDebt'),
  loanAmount: numberSchema('loanAmount'),
  loanTermMonths: numberSchema('loanTermMonths'),
  loanPurpose: z.enum(LOAN_PURPOSES, { error: `loanPurpose must be one of ${LOAN_PURPOSES.join(', ')}` }),
  creditScore: numberSchema('creditScore'),
  employmentYears: numberSchema('employmentYears'),
  homeOwnership: z.enum(HOME_OWNERSHIPS, { error: `homeOwnership must be one of ${HOME_OWNERSHIPS.join(', ')}` }),
  openCreditLines: numberSchema('openCreditLines'),
  delinquencies2y: numberSchema('delinquencies2y'),
  revolvingUtilization: numberSchema('revolvingUtilization'),
});

function issueCode(issue: z.core.$ZodIssue, input: unknown): string {
  if (issue.code === 'custom') return String((issue.params as { code?: string } | undefined)?.code ?? 'INVALID');
  if (issue.code === 'too_big' && issue.origin === 'string') return 'TOO_LONG';
  if (issue.code === 'invalid_value') return 'INVALID_ENUM_VALUE';
  if (issue.code === 'invalid_type') {
    const value = input !== null && typeof input === 'object' ? (input as Record<PropertyKey, unknown>)[issue.path[0] as string] : undefined;
    if (value === undefined || value === null) return 'REQUIRED';
    return typeof value === 'number' ? 'NOT_FINITE' : 'INVALID_TYPE';
  }
  return 'INVALID';
}

export type ValidationResult =
  | { ok: true; application: LoanApplication }
  | { ok: false; errors: FieldError[] };

/** Checks every rule of every field and reports all that are broken, not only the first. */
export function validateApplication(input: unknown): ValidationResult {
  const parsed = loanApplicationSchema.safeParse(input);
  if (parsed.success) return { ok: true, application: parsed.data };
  return {
    ok: false,
    errors: parsed.error.issues.map((issue) => ({
      field: issue.path.map(String).join('.') || '(application)',
      code: issueCode(issue, input),
      message: issue.message,
    })),
  };
}
