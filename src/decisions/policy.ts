import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { LoanApplication } from '../model/application.js';
import type { DecisionOutcome } from './outcome.js';
import { FEATURE_CATALOGUE, FEATURES_BY_NAME } from '../model/features.js';
import { MODEL_REASON_CODES } from './reason-codes.js';

export const POLICY_EFFECTS = ['DECLINE', 'REFER'] as const;
export type PolicyEffect = (typeof POLICY_EFFECTS)[number];

const OPERATORS = {
  '<': (a: number, b: number) => a < b,
  '<=': (a: number, b: number) => a <= b,
  '>': (a: number, b: number) => a > b,
  '>=': (a: number, b: number) => a >= b,
  '==': (a: number, b: number) => a === b,
} as const;

/** Estimated monthly instalment of the requested loan: an annuity at the policy's assumed rate. */
export function estimatedInstalment(application: LoanApplication, annualInterestRate: number): number {
  const r = annualInterestRate / 12;
  const n = application.loanTermMonths;
  if (r === 0) return application.loanAmount / n;
  return (application.loanAmount * r) / (1 - (1 + r) ** -n);
}

/** Variables a rule may test beyond the feature catalogue's. */
const POLICY_VARIABLES: Record<string, (a: LoanApplication, rate: number) => number> = {
  estimatedInstalment: (a, rate) => estimatedInstalment(a, rate),
  debtToIncomeWithLoan: (a, rate) => ((a.monthlyDebt + estimatedInstalment(a, rate)) * 12) / a.annualIncome,
};

export const POLICY_VARIABLE_NAMES = [...FEATURE_CATALOGUE.map((f) => f.name), ...Object.keys(POLICY_VARIABLES)];

const ruleSchema = z.object({
  id: z.string().min(1),
  description: z.string().min(1),
  when: z.object({
    variable: z.string().refine((v) => POLICY_VARIABLE_NAMES.includes(v), {
      message: `variable must be one of ${POLICY_VARIABLE_NAMES.join(', ')}`,
    }),
    op: z.enum(Object.keys(OPERATORS) as [keyof typeof OPERATORS, ...(keyof typeof OPERATORS)[]]),
    value: z.number(),
  }),
  effect: z.enum(POLICY_EFFECTS),
  reasonCode: z.string().regex(/^[A-Z0-9_]+$/),
});

export const policySchema = z
  .object({
    version: z.string().min(1),
    description: z.string().optional(),
    assumptions: z.object({ annualInterestRate: z.number().min(0).max(1) }),
    rules: z.array(ruleSchema),
  })
  .refine((p) => new Set(p.rules.map((r) => r.id)).size === p.rules.length, 'rule ids must be unique');

export const reasonCodesSchema = z.object({
  version: z.string().min(1),
  description: z.string().optional(),
  codes: z.record(z.string().regex(/^[A-Z0-9_]+$/), z.string().min(1)),
});

export type Policy = z.infer<typeof policySchema>;
export type PolicyRule = Policy['rules'][number];
export type ReasonCodes = z.infer<typeof reasonCodesSchema>;

export interface PolicyHit {
  ruleId: string;
  effect: PolicyEffect;
  description: string;
  reasonCode: string;
  variable: string;
  value: number;
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: cannot read the ${what}: ${(error as Error).message}`);
  }
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, file: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  throw new Error(`${file}: ${problems}`);
}

/**
 * The policy and its reason-code table, loaded together so that every code a rule or a model reason can give is known
 * to have a description.
 */
export function loadPolicy(policyFile: string, reasonCodesFile: string): { policy: Policy; reasonCodes: ReasonCodes } {
  const policy = parseOrThrow(policySchema, readJson(policyFile, 'policy'), policyFile);
  const reasonCodes = parseOrThrow(reasonCodesSchema, readJson(reasonCodesFile, 'reason-code table'), reasonCodesFile);
  const needed = [...MODEL_REASON_CODES, ...policy.rules.map((r) => r.reasonCode)];
  const missing = needed.filter((code) => !(code in reasonCodes.codes));
  if (missing.length > 0) throw new Error(`${reasonCodesFile}: no description for reason code(s) ${missing.join(', ')}`);
  return { policy, reasonCodes };
}

function variableValue(application: LoanApplication, variable: string, policy: Policy): number {
  const feature = FEATURES_BY_NAME.get(variable);
  if (feature) return feature.compute(application);
  return POLICY_VARIABLES[variable](application, policy.assumptions.annualInterestRate);
}

/** Every rule the application hits, in the policy file's order. */
export function evaluatePolicy(application: LoanApplication, policy: Policy): PolicyHit[] {
  const hits: PolicyHit[] = [];
  for (const rule of policy.rules) {
    const value = variableValue(application, rule.when.variable, policy);
    if (OPERATORS[rule.when.op](value, rule.when.value)) {
      hits.push({
        ruleId: rule.id,
        effect: rule.effect,
        description: rule.description,
        reasonCode: rule.reasonCode,
        variable: rule.when.variable,
        value,
      });
    }
  }
  return hits;
}

const SEVERITY: Record<DecisionOutcome, number> = { APPROVE: 0, REFER: 1, DECLINE: 2 };

/** The strictest of the model's outcome and every hit rule's effect. */
export function strictestOutcome(modelOutcome: DecisionOutcome, hits: readonly PolicyHit[]): DecisionOutcome {
  return hits.reduce<DecisionOutcome>((worst, hit) => (SEVERITY[hit.effect] > SEVERITY[worst] ? hit.effect : worst), modelOutcome);
}

/** Hits ordered strictest first (file order within an effect), for ranking reasons. */
export function hitsBySeverity(hits: readonly PolicyHit[]): PolicyHit[] {
  return [...hits].sort((a, b) => SEVERITY[b.effect] - SEVERITY[a.effect]);
}
