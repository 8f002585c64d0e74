/**
 * Live population drift of one model version: the applications a replica scores, counted into the bins of the
 * model's reference profile (manifest `profile`, written by the trainer) inside the batch pass, over a sliding window,
 * and compared with the training shares by the population stability index.
 *
 * Counting costs a few comparisons and increments per application into typed arrays: no object per application.
 * Everything that allocates (PSI, the largest shifts, the snapshot) happens on read, or once per slice of the window.
 */
import { isCategoricalField, type CatalogueFeature } from './features.js';
import type { ReferenceProfile } from './manifest.js';

/**
 * The window is a ring of this many slices of ⌈window / 10⌉ applications each, summed on read: it holds the current
 * slice and the nine before it, i.e. the last 90–100 % of `window` applications, and forgets a slice at a time.
 */
export const WINDOW_SLICES = 10;

/**
 * A share below this (an empty bin, in the window or in training) counts as this in the PSI, so ln(a/e) stays finite:
 * a decile the window leaves empty adds about (0.1 − 0.0001)·ln(0.1 / 0.0001) ≈ 0.69 by itself.
 */
export const PSI_EPSILON = 1e-4;

/**
 * The PSI is computed (and alerts raised) from this many applications in the window on, or from nine slices of a
 * smaller window (a full window holds 9–10 slices). With no drift the PSI of 10 bins over n applications is about χ²₉ / n: at 1,000 its mean is 0.009 and its
 * 99.9th percentile 0.03, far below any alert; at 200 a true PSI of 0.2 was read as 0.39 (test/drift.test.ts's book).
 */
export const MIN_APPLICATIONS = 1_000;

/** The name the predicted probability of default goes by among the features (PSI, alerts, metrics labels). */
export const SCORE_FEATURE = 'probabilityOfDefault';

/** Bins shown per feature, the largest contributions to its PSI first. */
export const LARGEST_SHIFTS = 3;

export interface DriftMonitorOptions {
  /** applications in the sliding window (the last 90–100 % of them are kept) @default 10000 */
  window?: number;
  /** a PSI above this is an alert (0.25: the usual "significant shift") @default 0.25 */
  psiAlert?: number;
  /** the decided outcomes `recordOutcome` counts, e.g. APPROVE, REFER, DECLINE @default [] */
  outcomes?: readonly string[];
  /** told once per feature per window when its PSI is above `psiAlert` (checked as each slice fills) */
  onAlert?: (alert: DriftAlert) => void;
  /** @default Date.now */
  now?: () => number;
}

export const DEFAULT_DRIFT_OPTIONS = { window: 10_000, psiAlert: 0.25 } as const;

/** One bin's part of a feature's PSI. */
export interface BinShift {
  /** "≤ 41250", "41250 < x ≤ 52000", "> 147358", or a category */
  bin: string;
  /** the bin's lower edge (exclusive), null for the first bin and for a category */
  lower: number | null;
  /** the bin's upper edge (inclusive), null for the last bin and for a category */
  upper: number | null;
  category: string | null;
  trainingShare: number;
  windowShare: number;
  /** (windowShare − trainingShare) · ln(windowShare / trainingShare), shares floored at PSI_EPSILON */
  contribution: number;
}

export interface FeatureDrift {
  feature: string;
  /** null until the window holds `minApplications` */
  psi: number | null;
  alert: boolean;
  largestShifts: BinShift[];
}

export interface DriftAlert {
  modelVersion: string;
  feature: string;
  psi: number;
  psiAlert: number;
  /** applications in the window it was measured on */
  applications: number;
  largestShifts: BinShift[];
}

export interface MonitoringSnapshot {
  modelVersion: string;
  /** whether the manifest has a profile to compare against (without one: outcome rates and mean only) */
  hasReference: boolean;
  psiAlert: number;
  window: {
    /** MONITOR_WINDOW */
    capacity: number;
    applications: number;
    /** the PSI is computed from this many applications on: MIN_APPLICATIONS, or nine slices of a smaller window */
    minApplications: number;
    /** when the oldest slice in the window started; null before the first application */
    since: Date | null;
    ageSeconds: number;
  };
  /** per outcome counted, its share of the window's decisions */
  outcomes: Array<{ outcome: string; count: number; rate: number }>;
  meanProbabilityOfDefault: number | null;
  /** highest PSI first */
  features: FeatureDrift[];
  /** the predicted probability of default, when the profile has it */
  score: FeatureDrift | null;
  /** the features (SCORE_FEATURE included) whose PSI is above psiAlert now */
  alerts: string[];
}

/** What one tracked feature's bins are. */
interface Tracked {
  name: string;
  /** first bin in a slice's counts */
  offset: number;
  /** training share per bin (a categorical field's extra last bin, for categories outside the profile, has 0) */
  expected: Float64Array;
  edges: readonly number[] | undefined;
  categories: readonly string[] | undefined;
}

interface Slice {
  counts: Uint32Array;
  outcomes: Uint32Array;
  applications: number;
  sumProbability: number;
  startedAt: number;
}

/** The bin of `value`: the number of edges below it, i.e. bins (−∞, e₀], (e₀, e₁], …, (eₙ₋₁, ∞). */
export function binOf(edges: ArrayLike<number>, value: number): number {
  let b = 0;
  while (b < edges.length && value > edges[b]) b++;
  return b;
}

/** One bin's PSI term, both shares floored at PSI_EPSILON. */
export function psiTerm(expected: number, actual: number): number {
  const e = expected < PSI_EPSILON ? PSI_EPSILON : expected;
  const a = actual < PSI_EPSILON ? PSI_EPSILON : actual;
  return (a - e) * Math.log(a / e);
}

/** Σ (a − e)·ln(a / e) over the bins. */
export function psi(expected: ArrayLike<number>, actual: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < expected.length; i++) sum += psiTerm(expected[i], actual[i]);
  return sum;
}

/**
 * Why a profile does not fit a model's columns (phrased to follow the manifest's file name), or undefined. A numeric
 * or derived entry must name one of the model's features; a categorical one's categories must each have a one-hot
 * column, since the monitor counts them from the encoded row.
 */
export function checkProfile(profile: ReferenceProfile, features: readonly CatalogueFeature[]): string | undefined {
  for (const entry of profile.features) {
    if (entry.categories !== undefined) {
      if (!isCategoricalField(entry.name)) return `profile lists categories for "${entry.name}", which is not a categorical field`;
      const missing = entry.categories.find((c) => !features.some((f) => f.name === `${entry.name}=${c}`));
      if (missing !== undefined) return `profile lists category "${missing}" of "${entry.name}", which has no column "${entry.name}=${missing}" in the model`;
    } else if (!features.some((f) => f.name === entry.name && f.category === undefined)) {
      return `profile names feature "${entry.name}", which is not a numeric feature of the model`;
    }
  }
  return undefined;
}

/** startedAt is set by the slice's first application */
const sliceOf = (bins: number, outcomes: number): Slice => ({
  counts: new Uint32Array(bins),
  outcomes: new Uint32Array(outcomes),
  applications: 0,
  sumProbability: 0,
  startedAt: 0,
});

function binLabel(t: Tracked, b: number): Omit<BinShift, 'trainingShare' | 'windowShare' | 'contribution'> {
  if (t.categories !== undefined) {
    const category = b < t.categories.length ? t.categories[b] : null;
    return { bin: category ?? '(a category outside the profile)', lower: null, upper: null, category };
  }
  const edges = t.edges!;
  const lower = b > 0 ? edges[b - 1] : null;
  const upper = b < edges.length ? edges[b] : null;
  const bin = lower === null ? (upper === null ? 'all' : `≤ ${upper}`) : upper === null ? `> ${lower}` : `${lower} < x ≤ ${upper}`;
  return { bin, lower, upper, category: null };
}

/**
 * Counts one model version's scored applications (`observeBatch`, from the batch pass) and decided outcomes
 * (`recordOutcome`) over a sliding window of the last `window` applications, and measures the PSI of each profiled
 * feature and of the score against the training shares. Mutable; one per loaded model, so a hot swap starts afresh.
 */
export class DriftMonitor {
  readonly modelVersion: string;
  readonly hasReference: boolean;
  readonly window: number;
  readonly sliceSize: number;
  /** MIN_APPLICATIONS, or nine slices of a smaller window */
  readonly minApplications: number;
  readonly psiAlert: number;
  readonly outcomes: readonly string[];

  readonly #tracked: Tracked[];
  /** numeric features: the model column, the edges' range in #edges, the first bin */
  readonly #numColumn: Int32Array;
  readonly #numEdgeFrom: Int32Array;
  readonly #numEdgeTo: Int32Array;
  readonly #numOffset: Int32Array;
  /** categorical fields: their categories' columns' range in #catColumns, the first bin */
  readonly #catFrom: Int32Array;
  readonly #catTo: Int32Array;
  readonly #catOffset: Int32Array;
  readonly #catColumns: Int32Array;
  readonly #edges: Float64Array;
  readonly #scoreEdgeFrom: number;
  readonly #scoreEdgeTo: number;
  /** -1 without a score profile */
  readonly #scoreOffset: number;
  readonly #bins: number;
  readonly #slices: Slice[] = [];
  #current: Slice;
  #currentIndex = 0;
  /** slices started so far (the first is 0) */
  #sequence = 0;
  /** per tracked feature, the #sequence of its last alert */
  readonly #alertedAt: Float64Array;
  readonly #onAlert: DriftMonitorOptions['onAlert'];
  readonly #now: () => number;

  constructor(modelVersion: string, profile: ReferenceProfile | undefined, features: readonly CatalogueFeature[], options: DriftMonitorOptions = {}) {
    const window = options.window ?? DEFAULT_DRIFT_OPTIONS.window;
    if (!Number.isInteger(window) || window < WINDOW_SLICES) throw new RangeError(`window must be an integer ≥ ${WINDOW_SLICES}, got ${window}`);
    const problem = profile && checkProfile(profile, features);
    if (problem !== undefined) throw new Error(problem);
    this.modelVersion = modelVersion;
    this.hasReference = profile !== undefined;
    this.window = window;
    this.sliceSize = Math.ceil(window / WINDOW_SLICES);
    this.minApplications = Math.min(MIN_APPLICATIONS, (WINDOW_SLICES - 1) * this.sliceSize);
    this.psiAlert = options.psiAlert ?? DEFAULT_DRIFT_OPTIONS.psiAlert;
    this.outcomes = [...(options.outcomes ?? [])];
    this.#onAlert = options.onAlert;
    this.#now = options.now ?? Date.now;

    const tracked: Tracked[] = [];
    const edges: number[] = [];
    const numeric: Array<[column: number, from: number, to: number, offset: number]> = [];
    const categorical: Array<[from: number, to: number, offset: number]> = [];
    const catColumns: number[] = [];
    let bins = 0;
    for (const entry of profile?.features ?? []) {
      if (entry.categories !== undefined) {
        const from = catColumns.length;
        for (const c of entry.categories) catColumns.push(features.findIndex((f) => f.name === `${entry.name}=${c}`));
        categorical.push([from, catColumns.length, bins]);
        const expected = new Float64Array(entry.categories.length + 1);
        expected.set(entry.shares);
        tracked.push({ name: entry.name, offset: bins, expected, edges: undefined, categories: entry.categories });
        bins += expected.length;
      } else {
        const from = edges.length;
        edges.push(...entry.edges!);
        numeric.push([features.findIndex((f) => f.name === entry.name), from, edges.length, bins]);
        tracked.push({ name: entry.name, offset: bins, expected: Float64Array.from(entry.shares), edges: entry.edges, categories: undefined });
        bins += entry.shares.length;
      }
    }
    const score = profile?.probabilityOfDefault;
    this.#scoreEdgeFrom = edges.length;
    if (score !== undefined) edges.push(...score.edges);
    this.#scoreEdgeTo = edges.length;
    this.#scoreOffset = score === undefined ? -1 : bins;
    if (score !== undefined) {
      tracked.push({ name: SCORE_FEATURE, offset: bins, expected: Float64Array.from(score.shares), edges: score.edges, categories: undefined });
      bins += score.shares.length;
    }
    this.#tracked = tracked;
    this.#bins = bins;
    this.#edges = Float64Array.from(edges);
    this.#numColumn = Int32Array.from(numeric, (n) => n[0]);
    this.#numEdgeFrom = Int32Array.from(numeric, (n) => n[1]);
    this.#numEdgeTo = Int32Array.from(numeric, (n) => n[2]);
    this.#numOffset = Int32Array.from(numeric, (n) => n[3]);
    this.#catFrom = Int32Array.from(categorical, (c) => c[0]);
    this.#catTo = Int32Array.from(categorical, (c) => c[1]);
    this.#catOffset = Int32Array.from(categorical, (c) => c[2]);
    this.#catColumns = Int32Array.from(catColumns);
    this.#alertedAt = new Float64Array(tracked.length).fill(-Infinity);
    this.#current = sliceOf(bins, this.outcomes.length);
    this.#slices.push(this.#current);
  }

  /**
   * Counts scored applications `from` to `to` (exclusive) of a batch: application i's encoded row starts at i·`block`
   * in `matrix` (the model's columns), its probability of default is `probabilities[i]`. Called from the batch pass,
   * feature by feature down the batch (a third faster than row by row); allocates nothing but once per slice.
   */
  observeBatch(matrix: Float32Array, block: number, probabilities: ArrayLike<number>, from: number, to: number): void {
    for (let start = from; start < to; ) {
      if (this.#current.applications >= this.sliceSize) this.#rotate();
      const slice = this.#current;
      if (slice.applications === 0) slice.startedAt = this.#now();
      // up to the end of the batch or of the slice, whichever comes first
      const end = Math.min(to, start + this.sliceSize - slice.applications);
      this.#count(slice, matrix, block, probabilities, start, end);
      slice.applications += end - start;
      start = end;
      if (slice.applications === this.sliceSize) this.#checkAlerts();
    }
  }

  #count(slice: Slice, matrix: Float32Array, block: number, probabilities: ArrayLike<number>, from: number, to: number): void {
    const counts = slice.counts;
    const edges = this.#edges;
    for (let k = 0; k < this.#numColumn.length; k++) {
      const first = this.#numEdgeFrom[k];
      const last = this.#numEdgeTo[k];
      const offset = this.#numOffset[k] - first;
      for (let i = from, at = from * block + this.#numColumn[k]; i < to; i++, at += block) {
        const value = matrix[at];
        let e = first;
        while (e < last && value > edges[e]) e++;
        counts[offset + e]++;
      }
    }
    const columns = this.#catColumns;
    for (let k = 0; k < this.#catFrom.length; k++) {
      const first = this.#catFrom[k];
      const last = this.#catTo[k];
      const offset = this.#catOffset[k] - first;
      for (let i = from, row = from * block; i < to; i++, row += block) {
        let c = first;
        while (c < last && matrix[row + columns[c]] !== 1) c++;
        counts[offset + c]++;
      }
    }
    let sum = 0;
    for (let i = from; i < to; i++) sum += probabilities[i];
    slice.sumProbability += sum;
    if (this.#scoreOffset < 0) return;
    const first = this.#scoreEdgeFrom;
    const last = this.#scoreEdgeTo;
    const offset = this.#scoreOffset - first;
    for (let i = from; i < to; i++) {
      const p = probabilities[i];
      let e = first;
      while (e < last && p > edges[e]) e++;
      counts[offset + e]++;
    }
  }

  /** Counts one decided outcome (one of `options.outcomes`; others are ignored) in the current slice. */
  recordOutcome(outcome: string): void {
    const i = this.outcomes.indexOf(outcome);
    if (i >= 0) this.#current.outcomes[i]++;
  }

  /** The window now: sizes, outcome rates, mean probability of default, and each feature's PSI and largest shifts. */
  snapshot(): MonitoringSnapshot {
    const { counts, outcomes, applications, sumProbability, since } = this.#sum();
    const measured = this.hasReference && applications >= this.minApplications;
    const drift = this.#tracked.map((t) => this.#driftOf(t, counts, applications, measured));
    const decided = outcomes.reduce((s, n) => s + n, 0);
    const features = drift.filter((d) => d.feature !== SCORE_FEATURE).sort((a, b) => (b.psi ?? -1) - (a.psi ?? -1));
    return {
      modelVersion: this.modelVersion,
      hasReference: this.hasReference,
      psiAlert: this.psiAlert,
      window: {
        capacity: this.window,
        applications,
        minApplications: this.minApplications,
        since: since === undefined ? null : new Date(since),
        ageSeconds: since === undefined ? 0 : Math.max(0, (this.#now() - since) / 1000),
      },
      outcomes: this.outcomes.map((outcome, i) => ({ outcome, count: outcomes[i], rate: decided > 0 ? outcomes[i] / decided : 0 })),
      meanProbabilityOfDefault: applications > 0 ? sumProbability / applications : null,
      features,
      score: drift.find((d) => d.feature === SCORE_FEATURE) ?? null,
      alerts: drift.filter((d) => d.alert).map((d) => d.feature),
    };
  }

  #rotate(): void {
    this.#sequence++;
    this.#currentIndex = (this.#currentIndex + 1) % WINDOW_SLICES;
    let slice = this.#slices[this.#currentIndex];
    if (slice === undefined) {
      slice = sliceOf(this.#bins, this.outcomes.length);
      this.#slices.push(slice);
    } else {
      slice.counts.fill(0);
      slice.outcomes.fill(0);
      slice.applications = 0;
      slice.sumProbability = 0;
    }
    this.#current = slice;
  }

  /** The window's counts: every slice summed. */
  #sum() {
    const counts = new Float64Array(this.#bins);
    const outcomes = new Array<number>(this.outcomes.length).fill(0);
    let applications = 0;
    let sumProbability = 0;
    let since: number | undefined;
    for (const slice of this.#slices) {
      if (slice.applications === 0 && slice !== this.#current) continue;
      for (let b = 0; b < counts.length; b++) counts[b] += slice.counts[b];
      for (let o = 0; o < outcomes.length; o++) outcomes[o] += slice.outcomes[o];
      applications += slice.applications;
      sumProbability += slice.sumProbability;
      if (slice.applications > 0 && (since === undefined || slice.startedAt < since)) since = slice.startedAt;
    }
    return { counts, outcomes, applications, sumProbability, since };
  }

  #driftOf(t: Tracked, counts: Float64Array, applications: number, measured: boolean): FeatureDrift {
    if (!measured) return { feature: t.name, psi: null, alert: false, largestShifts: [] };
    const shifts: BinShift[] = [];
    let total = 0;
    for (let b = 0; b < t.expected.length; b++) {
      const trainingShare = t.expected[b];
      const windowShare = counts[t.offset + b] / applications;
      const contribution = psiTerm(trainingShare, windowShare);
      total += contribution;
      if (trainingShare > 0 || windowShare > 0) shifts.push({ ...binLabel(t, b), trainingShare, windowShare, contribution });
    }
    shifts.sort((a, b) => b.contribution - a.contribution);
    return { feature: t.name, psi: total, alert: total > this.psiAlert, largestShifts: shifts.slice(0, LARGEST_SHIFTS) };
  }

  /**
   * As a slice fills: each feature whose PSI is above psiAlert is reported, unless it was reported less than a
   * window (WINDOW_SLICES slices) ago, so a lasting shift makes one alert per feature per window, not one per request.
   */
  #checkAlerts(): void {
    if (!this.hasReference || this.#onAlert === undefined) return;
    const { counts, applications } = this.#sum();
    if (applications < this.minApplications) return;
    for (let k = 0; k < this.#tracked.length; k++) {
      if (this.#sequence - this.#alertedAt[k] < WINDOW_SLICES) continue;
      const t = this.#tracked[k];
      let total = 0;
      for (let b = 0; b < t.expected.length; b++) total += psiTerm(t.expected[b], counts[t.offset + b] / applications);
      if (!(total > this.psiAlert)) continue;
      this.#alertedAt[k] = this.#sequence;
      const drift = this.#driftOf(t, counts, applications, true);
      try {
        this.#onAlert({
          modelVersion: this.modelVersion,
          feature: t.name,
          psi: drift.psi!,
          psiAlert: this.psiAlert,
          applications,
          largestShifts: drift.largestShifts,
        });
      } catch {
        // an alert callback (a log line) must never fail a batch
      }
    }
  }
}
