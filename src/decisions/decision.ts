import { createHash, randomUUID } from 'node:crypto';
import type { LoanApplication } from '../model/application.js';
import type { Review } from './review.js';
import type { FieldError } from './rules.js';
import { MAX_REASONS, outcomeFor, scoreFor, topRiskFactors, type DecisionOutcome, type Thresholds } from './outcome.js';
import { FEATURES_BY_NAME } from '../model/features.js';
import { modelReasonCode } from './reason-codes.js';
import {
  evaluatePolicy,
  hitsBySeverity,
  strictestOutcome,
  type Policy,
  type PolicyEffect,
  type ReasonCodes,
} from './policy.js';
import type { ChallengerScore, ScoredApplication, ScoringModel } from '../model/scoring-model.js';

export type ReasonSource = 'POLICY' | 'MODEL';

export interface Reason {
  code: string;
  description: string;
  source: ReasonSource;
  /** the application field or derived feature (MODEL), or the variable the rule tested (POLICY) */
  feature: string;
  /**
   * how much the field raised the probability of default; for a rule, the model's impact of the field behind its
   * variable, or 0
   */
  impact: number;
  ruleId: string | null;
}

export interface PolicyHitView {
  ruleId: string;
  effect: PolicyEffect;
  description: string;
}

export interface Decision {
  id: string;
  applicationRef: string | null;
  outcome: DecisionOutcome;
  probabilityOfDefault: number;
  score: number;
  reasons: Reason[];
  policyHits: PolicyHitView[];
  policyVersion: string;
  modelVersion: string;
  decidedAt: Date;
  /** the application as received (absent on a trail written before it was kept with the decision) */
  application?: LoanApplication;
  /** a person's review of a REFER, once there is one */
  review?: Review | null;
  /**
   * what the challenger model, scoring the same batch, would have decided: recorded in the audit trail, never answered
   * (absent without a challenger, or when it could not score this application)
   */
  challenger?: ChallengerDecision;
}

/**
 * The outcome a challenger would have decided: its own probability against its own manifest's thresholds (with the
 * APPROVE_THRESHOLD / DECLINE_THRESHOLD overrides when set, as it would decide once promoted), and the same policy rules.
 */
export interface ChallengerDecision {
  modelVersion: string;
  sha256: string;
  probabilityOfDefault: number;
  outcome: DecisionOutcome;
}

export interface InvalidApplication {
  message: string;
  fieldErrors: FieldError[];
}

export type DecisionResult =
  | ({ kind: 'decision' } & Decision)
  | ({ kind: 'invalid' } & InvalidApplication);

export interface ThresholdOverrides {
  approve?: number;
  decline?: number;
}

export function thresholdsFor(model: ScoringModel, overrides: ThresholdOverrides): Thresholds {
  return {
    approve: overrides.approve ?? model.manifest.thresholds.approve,
    decline: overrides.decline ?? model.manifest.thresholds.decline,
  };
}

export interface DecisionPolicy {
  policy: Policy;
  reasonCodes: ReasonCodes;
  thresholds: ThresholdOverrides;
}

/**
 * Ranked adverse-action reasons: the rules hit, strictest first, then the fields that raised the risk most. Only
 * rules actually hit and fields the served model actually scored can appear, and a categorical field is cited by the
 * applicant's own category.
 */
function reasonsFor(
  scored: ScoredApplication,
  hits: ReturnType<typeof evaluatePolicy>,
  outcome: DecisionOutcome,
  reasonCodes: ReasonCodes,
): Reason[] {
  const reasons: Reason[] = hitsBySeverity(hits).map((hit) => ({
    code: hit.reasonCode,
    description: reasonCodes.codes[hit.reasonCode],
    source: 'POLICY',
    feature: hit.variable,
    impact: impactOf(scored, hit.variable),
    ruleId: hit.ruleId,
  }));
  let factors = topRiskFactors(scored.impacts, MAX_REASONS);
  // A referral or decline must always be explained: when no single field pushes the risk above its reference
  // level, the one that pushes it most (however little) is still the best answer.
  if (factors.length === 0 && reasons.length === 0 && outcome !== 'APPROVE' && scored.impacts.length > 0) {
    factors = [scored.impacts.reduce((a, b) => (b.impact > a.impact ? b : a))];
  }
  for (const factor of factors) {
    const code = modelReasonCode(factor.field, factor.category);
    if (reasons.some((r) => r.code === code)) continue;
    reasons.push({
      code,
      description: reasonCodes.codes[code],
      source: 'MODEL',
      feature: factor.field,
      impact: factor.impact,
      ruleId: null,
    });
  }
  return reasons.slice(0, MAX_REASONS);
}

/** The model's impact of the field a policy variable is computed from; 0 for a variable the model does not score. */
function impactOf(scored: ScoredApplication, variable: string): number {
  const field = FEATURES_BY_NAME.get(variable)?.field;
  return field === undefined ? 0 : (scored.impacts.find((i) => i.field === field)?.impact ?? 0);
}

export function decisionFrom(
  application: LoanApplication,
  scored: ScoredApplication,
  decisionPolicy: DecisionPolicy,
  now = new Date(),
  id: string = randomUUID(),
): Decision {
  const { policy, reasonCodes } = decisionPolicy;
  const modelOutcome = outcomeFor(scored.probabilityOfDefault, thresholdsFor(scored.model, decisionPolicy.thresholds));
  const hits = evaluatePolicy(application, policy);
  const outcome = strictestOutcome(modelOutcome, hits);
  return {
    id,
    applicationRef: application.applicationRef ?? null,
    outcome,
    probabilityOfDefault: scored.probabilityOfDefault,
    score: scoreFor(scored.probabilityOfDefault),
    reasons: reasonsFor(scored, hits, outcome, reasonCodes),
    policyHits: hits.map(({ ruleId, effect, description }) => ({ ruleId, effect, description })),
    policyVersion: policy.version,
    modelVersion: `${scored.model.manifest.name}-${scored.model.manifest.version}`,
    decidedAt: now,
    application,
    review: null,
    challenger: scored.challenger && challengerDecision(scored.challenger, hits, decisionPolicy),
  };
}

function challengerDecision(scored: ChallengerScore, hits: ReturnType<typeof evaluatePolicy>, decisionPolicy: DecisionPolicy): ChallengerDecision {
  const { model, probabilityOfDefault } = scored;
  return {
    modelVersion: `${model.manifest.name}-${model.manifest.version}`,
    sha256: model.sha256,
    probabilityOfDefault,
    outcome: strictestOutcome(outcomeFor(probabilityOfDefault, thresholdsFor(model, decisionPolicy.thresholds)), hits),
  };
}

/** SHA-256 of the application with its keys sorted: equal inputs hash equally whatever their field order. */
export function inputHash(application: LoanApplication): string {
  const canonical = Object.fromEntries(
    Object.entries(application)
      .filter(([, v]) => v !== undefined && v !== null)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}
