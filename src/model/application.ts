import { z } from 'zod';

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

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

interface NumberRule {
  min: number;
  /** whether min itself is allowed */
  minInclusive: boolean;
  max: number;
  integer: boolean;
}

/** The business rules of every numeric field (the model issue's table). */
export const NUMBER_RULES: Record<NumericField, NumberRule> = {
  annualIncome: { min: 0, minInclusive: false, max: 10_000_000, integer: false },
  monthlyDebt: { min: 0, minInclusive: true, max: 1_000_000, integer: false },
  loanAmount: { min: 0, minInclusive: false, max: 1_000_000, integer: false },
  loanTermMonths: { min: 6, minInclusive: true, max: 480, integer: true },
  creditScore: { min: 300, minInclusive: true, max: 850, integer: true },
  employmentYears: { min: 0, minInclusive: true, max: 60, integer: false },
  openCreditLines: { min: 0, minInclusive: true, max: 100, integer: true },
  delinquencies2y: { min: 0, minInclusive: true, max: 50, integer: true },
  revolvingUtilization: { min: 0, minInclusive: true, max: 2, integer: false },
};

export const APPLICATION_REF_MAX_LENGTH = 64;

/** C0 and C1 control characters (NUL, ESC, CR, LF, DEL, …): never part of a reference or a key, nor of a log. */
export const CONTROL_CHARACTERS = /\p{Cc}/u;

function describeRange(rule: NumberRule): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const low = rule.minInclusive ? `at least ${fmt(rule.min)}` : `greater than ${fmt(rule.min)}`;
  return `${rule.integer ? 'an integer ' : ''}${low} and at most ${fmt(rule.max)}`;
}

function numberSchema(field: NumericField) {
  const rule = NUMBER_RULES[field];
  const message = `${field} must be ${describeRange(rule)}`;
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
