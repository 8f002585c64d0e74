import { NUMERIC_FIELDS, type LoanApplication, type NumericField } from '../model/application.js';

/** One broken rule of one application field. */
export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export interface NumberRule {
  min: number;
  /** whether min itself is allowed */
  minInclusive: boolean;
  max: number;
  /** the field is a GraphQL Int (GraphQL refuses a fraction before any rule runs) */
  integer: boolean;
}

/**
 * The business rules of every numeric field: the one table the input type's GraphQL types (Int or Float) and field
 * descriptions are written from, and the one pass that checks the ranges.
 */
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
export const IDEMPOTENCY_KEY_MAX_LENGTH = 200;

/** C0 and C1 control characters (NUL, ESC, CR, LF, DEL, …): never part of a reference or a key, nor of a log. */
export const CONTROL_CHARACTERS = /\p{Cc}/u;

const fmt = (n: number) => n.toLocaleString('en-US');

/** "greater than 0 and at most 10,000,000" */
export function describeRange(rule: NumberRule): string {
  return `${rule.minInclusive ? `at least ${fmt(rule.min)}` : `greater than ${fmt(rule.min)}`} and at most ${fmt(rule.max)}`;
}

const RANGE_MESSAGES = Object.fromEntries(
  NUMERIC_FIELDS.map((field) => {
    const rule = NUMBER_RULES[field];
    return [field, `${field} must be ${rule.integer ? 'an integer ' : ''}${describeRange(rule)}`];
  }),
) as Record<NumericField, string>;

/**
 * Every rule one application breaks, in field order (empty when it breaks none). Types, required fields and enum
 * values were checked by GraphQL: this pass checks only what a type cannot say.
 */
export function applicationErrors(application: LoanApplication): FieldError[] {
  let errors: FieldError[] | undefined;
  const ref = application.applicationRef;
  if (ref !== undefined && ref !== null) {
    if (ref.length > APPLICATION_REF_MAX_LENGTH) {
      (errors ??= []).push({ field: 'applicationRef', code: 'TOO_LONG', message: `applicationRef must be at most ${APPLICATION_REF_MAX_LENGTH} characters` });
    } else if (CONTROL_CHARACTERS.test(ref)) {
      (errors ??= []).push({ field: 'applicationRef', code: 'CONTROL_CHARACTER', message: 'applicationRef must not contain control characters' });
    }
  }
  for (const field of NUMERIC_FIELDS) {
    const value = application[field];
    const rule = NUMBER_RULES[field];
    if ((rule.minInclusive ? value >= rule.min : value > rule.min) && value <= rule.max) continue;
    (errors ??= []).push({ field, code: 'OUT_OF_RANGE', message: RANGE_MESSAGES[field] });
  }
  return errors ?? NO_ERRORS;
}

const NO_ERRORS: FieldError[] = [];

/** The rules of an idempotency key: 1–200 characters, no control characters. */
export function idempotencyKeyErrors(key: string, field = 'idempotencyKey'): FieldError[] {
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
    return [{ field, code: 'OUT_OF_RANGE', message: `idempotencyKey must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} characters` }];
  }
  if (CONTROL_CHARACTERS.test(key)) return [{ field, code: 'CONTROL_CHARACTER', message: 'idempotencyKey must not contain control characters' }];
  return NO_ERRORS;
}
