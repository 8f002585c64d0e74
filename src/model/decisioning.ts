import { randomUUID } from 'node:crypto';
import type DataLoader from 'dataloader';
import { validateApplication, type FieldError, type LoanApplication } from './application.js';
import { MAX_REASONS, outcomeFor, scoreFor, topRiskFactors, type DecisionOutcome, type Thresholds } from './decision.js';
import { FEATURES_BY_NAME } from './features.js';
import type { ScoredApplication, ScoringModel } from './scoring-model.js';

export interface Reason {
  code: string;
  description: string;
  feature: string;
  impact: number;
}

export interface Decision {
  id: string;
  applicationRef: string | null;
  outcome: DecisionOutcome;
  probabilityOfDefault: number;
  score: number;
  reasons: Reason[];
  modelVersion: string;
  decidedAt: Date;
}

export interface InvalidApplication {
  message: string;
  fieldErrors: FieldError[];
}

export type DecisionResult = ({ kind: 'decision' } & Decision) | ({ kind: 'invalid' } & InvalidApplication);

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

function reasonsFor(scored: ScoredApplication, outcome: DecisionOutcome): Reason[] {
  let factors = topRiskFactors(scored.impacts, MAX_REASONS);
  // A referral or decline must always be explained: when no single feature pushes the risk above its
  // reference level, the feature that pushes it most (however little) is still the best answer.
  if (factors.length === 0 && outcome !== 'APPROVE' && scored.impacts.length > 0) {
    factors = [scored.impacts.reduce((a, b) => (b.impact > a.impact ? b : a))];
  }
  const manifestFeatures = new Map(scored.model.manifest.features.map((f) => [f.name, f]));
  return factors.map((f) => {
    const catalogue = FEATURES_BY_NAME.get(f.feature)!;
    return {
      code: catalogue.reasonCode,
      description: manifestFeatures.get(f.feature)?.description ?? catalogue.description,
      feature: f.feature,
      impact: f.impact,
    };
  });
}

export function decisionFrom(
  application: LoanApplication,
  scored: ScoredApplication,
  overrides: ThresholdOverrides,
  now = new Date(),
): Decision {
  const thresholds = thresholdsFor(scored.model, overrides);
  const outcome = outcomeFor(scored.probabilityOfDefault, thresholds);
  return {
    id: randomUUID(),
    applicationRef: application.applicationRef ?? null,
    outcome,
    probabilityOfDefault: scored.probabilityOfDefault,
    score: scoreFor(scored.probabilityOfDefault),
    reasons: reasonsFor(scored, outcome),
    modelVersion: `${scored.model.manifest.name}-${scored.model.manifest.version}`,
    decidedAt: now,
  };
}

/** Validates, scores through the shared batcher, and decides one application. */
export async function decide(
  input: unknown,
  loader: DataLoader<LoanApplication, ScoredApplication>,
  overrides: ThresholdOverrides,
): Promise<DecisionResult> {
  const validation = validateApplication(input);
  if (!validation.ok) {
    const fields = [...new Set(validation.errors.map((e) => e.field))];
    return {
      kind: 'invalid',
      message: `The application breaks ${validation.errors.length} rule(s) on ${fields.join(', ')}`,
      fieldErrors: validation.errors,
    };
  }
  const scored = await loader.load(validation.application);
  return { kind: 'decision', ...decisionFrom(validation.application, scored, overrides) };
}
