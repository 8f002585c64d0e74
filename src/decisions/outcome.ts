import type { FieldImpact } from '../model/scoring-model.js';

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
 * The fields that raised the risk most, largest first. A field that lowered or did not change the risk is never a
 * reason.
 */
export function topRiskFactors(impacts: readonly FieldImpact[], limit = MAX_REASONS): FieldImpact[] {
  // A partial insertion sort: this runs for every decision, over every field, and only the top few are kept.
  const top: FieldImpact[] = [];
  for (const candidate of impacts) {
    if (!(candidate.impact > 0)) continue;
    let at = top.length;
    while (at > 0 && ranksBefore(candidate, top[at - 1])) at--;
    if (at < limit) {
      top.splice(at, 0, candidate);
      if (top.length > limit) top.pop();
    }
  }
  return top;
}

function ranksBefore(a: FieldImpact, b: FieldImpact): boolean {
  return a.impact > b.impact || (a.impact === b.impact && a.field < b.field);
}
