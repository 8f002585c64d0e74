import type { ChallengerReport } from '../model/challenger.js';
import type { Decision } from './decision.js';
import type { Thresholds } from './outcome.js';

/** Sub-windows of the sliding window: the window forgets a tenth of itself at a time. */
const SLOTS = 10;

/** One sub-window's counters. */
interface Slot {
  applications: number;
  agreements: number;
  /** Σ (challenger − served) probability of default */
  differenceSum: number;
}

const emptySlot = (): Slot => ({ applications: 0, agreements: 0, differenceSum: 0 });

/** The challenger and how it compares with the served model over the window; what modelInfo.challenger and /metrics show. */
export interface ChallengerStatus {
  name: string;
  version: string;
  sha256: string;
  /** what the outcome it would have decided is judged by */
  thresholds: Thresholds;
  /** the window's size in applications (MONITOR_WINDOW) */
  window: number;
  /** decisions in the window now (both models scored them): up to `window` */
  applications: number;
  /** share of those decisions whose challenger outcome equals the decided one; null before the first */
  agreementRate: number | null;
  /** mean of (challenger − served) probability of default over those decisions; null before the first */
  meanProbabilityDifference: number | null;
  /** applications the challenger failed to score since it was set (never a failed decision) */
  failures: number;
}

/** The challenger as the monitor names it. */
export type ChallengerIdentity = Pick<ChallengerStatus, 'name' | 'version' | 'sha256' | 'thresholds'>;

/**
 * Compares a challenger with the served model over the last `window` decisions both scored: how often the outcome the
 * challenger would have decided equals the one decided, and the mean difference of their probabilities. Counted in
 * ten sub-windows of ⌊window / 10⌋ decisions, summed on read: the oldest sub-window is dropped as a new one starts, so
 * a read covers the last 90 to 100 % of `window` once that many have been decided, in O(1) per decision.
 * It starts over whenever either model changes (another ONNX file, not a reload of the same one).
 */
export class ChallengerMonitor {
  readonly window: number;
  readonly #slotSize: number;
  readonly #slots: Slot[] = Array.from({ length: SLOTS }, emptySlot);
  #at = 0;
  #failures = 0;
  #failing = false;
  #challenger: ChallengerIdentity | undefined;
  /** the served model's `name-version` and sha256: decisions of another (an earlier one, still finishing) are not counted */
  #served: { version: string; sha256: string } | undefined;

  constructor(window: number) {
    if (!Number.isInteger(window) || window < SLOTS) throw new RangeError(`window must be an integer ≥ ${SLOTS}, got ${window}`);
    this.window = window;
    this.#slotSize = Math.floor(window / SLOTS);
  }

  /** The models compared now; the window starts over when either is another model than before. */
  compare(served: { version: string; sha256: string }, challenger: ChallengerIdentity | undefined): void {
    const same =
      this.#served?.sha256 === served.sha256 &&
      this.#served.version === served.version &&
      this.#challenger?.sha256 === challenger?.sha256 &&
      this.#challenger?.version === challenger?.version;
    if (same) return;
    if (this.#challenger?.sha256 !== challenger?.sha256 || this.#challenger?.version !== challenger?.version) {
      this.#failures = 0;
      this.#failing = false;
    }
    this.#served = served;
    this.#challenger = challenger;
    for (const slot of this.#slots) Object.assign(slot, emptySlot());
    this.#at = 0;
  }

  /** Counts one new decision (the decision service's onDecided); one without the current challenger's values is not counted. */
  observe(decision: Decision): void {
    const c = decision.challenger;
    if (c === undefined || this.#challenger === undefined || c.sha256 !== this.#challenger.sha256 || decision.modelVersion !== this.#served?.version) return;
    let slot = this.#slots[this.#at];
    if (slot.applications >= this.#slotSize) {
      this.#at = (this.#at + 1) % SLOTS;
      slot = this.#slots[this.#at];
      slot.applications = 0;
      slot.agreements = 0;
      slot.differenceSum = 0;
    }
    slot.applications++;
    if (c.outcome === decision.outcome) slot.agreements++;
    slot.differenceSum += c.probabilityOfDefault - decision.probabilityOfDefault;
  }

  /**
   * Counts the challenger's failures in one batch. Returns 'failing' on the first failure after a success (or since it
   * was set) and 'recovered' on the first success after failures, so a caller logs a burst of failures once.
   */
  batch(report: ChallengerReport): 'failing' | 'recovered' | undefined {
    const current = this.#challenger && `${this.#challenger.name}-${this.#challenger.version}`;
    // a batch dispatched before a swap reports on the challenger it had
    if (report.modelVersion !== undefined && report.modelVersion !== current) return undefined;
    this.#failures += report.failed;
    const failing = report.error !== undefined;
    if (failing === this.#failing) return undefined;
    this.#failing = failing;
    return failing ? 'failing' : 'recovered';
  }

  /** The challenger and its comparison now; undefined without a challenger. */
  status(): ChallengerStatus | undefined {
    if (this.#challenger === undefined) return undefined;
    let applications = 0;
    let agreements = 0;
    let differenceSum = 0;
    for (const slot of this.#slots) {
      applications += slot.applications;
      agreements += slot.agreements;
      differenceSum += slot.differenceSum;
    }
    return {
      ...this.#challenger,
      window: this.window,
      applications,
      agreementRate: applications > 0 ? agreements / applications : null,
      meanProbabilityDifference: applications > 0 ? differenceSum / applications : null,
      failures: this.#failures,
    };
  }
}
