/**
 * Discrimination and calibration metrics of a binary risk score. `labels` are 1 for the event (default), 0 otherwise;
 * a higher score means more risk.
 */

function checkInputs(scores: ArrayLike<number>, labels: ArrayLike<number>): { positives: number; negatives: number } {
  if (scores.length !== labels.length) {
    throw new Error(`scores and labels differ in length (${scores.length} vs ${labels.length})`);
  }
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new Error(`labels must be 0 or 1, got ${y} at index ${i}`);
    if (!Number.isFinite(scores[i])) throw new Error(`scores must be finite, got ${scores[i]} at index ${i}`);
    positives += y;
  }
  return { positives, negatives: labels.length - positives };
}

/** Indices sorted by ascending score; ties keep index order, so the result is deterministic. */
function ascendingOrder(scores: ArrayLike<number>): Uint32Array {
  const order = new Uint32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => scores[a] - scores[b] || a - b);
}

/**
 * Area under the ROC curve by ranks (the Mann–Whitney U statistic over positives × negatives). Tied scores get
 * their average rank, so a positive–negative pair with equal scores counts one half.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { positives, negatives } = checkInputs(scores, labels);
  if (positives === 0 || negatives === 0) throw new Error('AUC needs at least one positive and one negative label');
  const order = ascendingOrder(scores);
  let positiveRankSum = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && scores[order[end]] === scores[order[start]]) end++;
    // ranks start + 1 .. end share their average
    const averageRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) if (labels[order[k]] === 1) positiveRankSum += averageRank;
    start = end;
  }
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Kolmogorov–Smirnov statistic: the largest gap between the score distributions of negatives and positives,
 * max over thresholds t of |F₀(t) − F₁(t)|. Tied scores are never split: the CDFs are compared only between
 * distinct scores.
 */
export function ks(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { positives, negatives } = checkInputs(scores, labels);
  if (positives === 0 || negatives === 0) throw new Error('KS needs at least one positive and one negative label');
  const order = ascendingOrder(scores);
  let cumulativePositives = 0;
  let cumulativeNegatives = 0;
  let best = 0;
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end < order.length && scores[order[end]] === scores[order[start]]) {
      if (labels[order[end]] === 1) cumulativePositives++;
      else cumulativeNegatives++;
      end++;
    }
    best = Math.max(best, Math.abs(cumulativeNegatives / negatives - cumulativePositives / positives));
    start = end;
  }
  return best;
}

/** Brier score: the mean squared difference between the predicted probability and the 0/1 outcome. */
export function brier(probabilities: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkInputs(probabilities, labels);
  if (labels.length === 0) throw new Error('Brier score needs at least one row');
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum += (probabilities[i] - labels[i]) ** 2;
  return sum / labels.length;
}

/** The q-quantile (0 ≤ q ≤ 1) by linear interpolation between order statistics (numpy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new Error('quantile of an empty list');
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile must be in [0, 1], got ${q}`);
  const sorted = Float64Array.from(values).sort();
  const position = q * (sorted.length - 1);
  const lo = Math.floor(position);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo);
}
