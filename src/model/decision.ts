import type { FeatureImpact } from './scoring-model.js';

export type DecisionOutcome = 'APPROVE' | 'REFER' | 'DECLINE';

export interface Thresholds {
  /** probability of default below this → APPROVE */
  approve: number;
  /** probability of default at or above this → DECLINE */
  decline: number;
}

export const MAX_REASONS = 4;

export function outcomeFor(probabilityOfDefault: number, thresholds: Thresholds): DecisionOutcome {
  if (probabilityOfDefault < thresholds.approve) return 'APPROVE';
  if (probabilityOfDefault >= thresholds.decline) return 'DECLINE';
  return 'REFER';
}

export const SCORE_MIN = 300;
export const SCORE_MAX = 850;

/**
 * Maps a probability of default onto the familiar 300–850 scale, higher is safer. The square spreads the
 * low-risk end, where most applicants are, over more points than a straight line would.
 */
export function scoreFor(probabilityOfDefault: number): number {
  const p = Math.min(1, Math.max(0, probabilityOfDefault));
  return Math.round(SCORE_MIN + (SCORE_MAX - SCORE_MIN) * (1 - p) ** 2);
}

/**
 * The features that raised the risk most, largest first. A feature that lowered or did not change the risk is
 * never a reason.
 */
export function topRiskFactors(impacts: readonly FeatureImpact[], limit = MAX_REASONS): FeatureImpact[] {
  return impacts
    .filter((i) => i.impact > 0)
    .sort((a, b) => b.impact - a.impact || a.feature.localeCompare(b.feature))
    .slice(0, limit);
}
