import type { LoanApplication } from '../../model/application.js';
import type { Decision, PolicyHitView, Reason } from '../decision.js';
import type { Review, ReviewOutcome } from '../review.js';

/** A batch row's values, in the order of its columns (the same in SQLite and PostgreSQL). */
export type BatchValues = [
  batchId: string,
  caller: string | null,
  receivedAt: string,
  decidedAt: string,
  latencyMs: number,
  modelVersion: string,
  modelSha256: string,
  policyVersion: string,
  descriptions: string,
  body: string,
];

/** An index row's values (one per decision), in the order of its columns. */
export type IndexValues = [
  batchId: string,
  position: number,
  caller: string | null,
  outcome: string,
  decidedAt: string,
  applicationRef: string | null,
  idempotencyKey: string | null,
  inputHash: string | null,
  /** null: the batch's model (a decision only names its own when a hot swap split the batch) */
  modelVersion: string | null,
];

/** A decision id: its batch's random id, a dot, and its position in the batch (base 36). */
export function decisionId(batchId: string, position: number): string {
  return `${batchId}.${position.toString(36)}`;
}

/** The first layout's decision ids (UUIDs): migrated, each is a batch of one under its own id. */
const FIRST_LAYOUT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** [batch id, position] of a decision id; a first-layout id (a UUID, no dot) is its own batch of one. */
export function parseDecisionId(id: string): [string, number] {
  const dot = id.lastIndexOf('.');
  if (dot < 0) return [id, 0];
  const position = Number.parseInt(id.slice(dot + 1), 36);
  return [id.slice(0, dot), Number.isSafeInteger(position) && id.slice(dot + 1) === position.toString(36) ? position : -1];
}

/** A review's columns, as the decision queries select them beside a decision (all null: not reviewed). */
export interface ReviewColumns {
  review_outcome?: ReviewOutcome | null;
  /** a JSON array of codes */
  review_reason_codes?: string | null;
  review_note?: string | null;
  review_reviewer?: string | null;
  review_reviewed_at?: string | Date | null;
}

export interface DecisionRow extends ReviewColumns {
  idempotency_key?: string | null;
  batch_id: string;
  position: number;
  caller: string | null;
  outcome: Decision['outcome'];
  decided_at: string | Date;
  application_ref: string | null;
  input_hash: string | null;
  entry: string;
  descriptions: string;
  model_version: string;
  policy_version: string;
}

/**
 * One decision's entry in a batch body, an array: the input as received, probability, score, outcome, reasons as
 * [code, source, feature, impact, ruleId], policy hits as [ruleId, effect], and the model version and sha256 when
 * they are not the batch's (else null, or nothing). An entry migrated from the first layout holds reasons and hits as
 * objects, then the feature values. With a challenger, the ninth element is what it would have decided: its probability
 * and outcome, then its version and sha256 when they are not the batch's (`c` of the batch's descriptions); the
 * seventh and eighth are then null when they do not apply.
 */
export type Entry = [
  input: unknown,
  probability: number,
  score: number,
  outcome: Decision['outcome'],
  reasons: Array<[string, Reason['source'], string, number, string | null] | Reason>,
  hits: Array<[string, PolicyHitView['effect']] | PolicyHitView>,
  model?: [version: string, sha256: string] | null,
  features?: Record<string, number> | null,
  challenger?: [probability: number, outcome: Decision['outcome'], version?: string, sha256?: string],
];

export function decisionFromRow(row: DecisionRow): Decision {
  return decisionFromEntry(row, JSON.parse(row.entry) as Entry, JSON.parse(row.descriptions) as Descriptions, row.model_version);
}

/**
 * What a batch's entries refer to: {"r": {reason code: description}, "h": {rule id: description}, "c": [version,
 * sha256] of the challenger that scored them, when one did}
 */
export interface Descriptions {
  r?: Record<string, string>;
  h?: Record<string, string>;
  c?: [version: string, sha256: string];
}

export function reviewFromRow(row: ReviewColumns): Review | null {
  if (!row.review_outcome) return null;
  return {
    outcome: row.review_outcome,
    reasonCodes: JSON.parse(row.review_reason_codes ?? '[]') as string[],
    note: row.review_note ?? null,
    reviewer: row.review_reviewer!,
    reviewedAt: new Date(row.review_reviewed_at!),
  };
}

/** A decision from its index row (and review), its entry in the batch body, and the batch's descriptions and model. */
export function decisionFromEntry(
  row: Pick<DecisionRow, 'batch_id' | 'position' | 'application_ref' | 'outcome' | 'policy_version' | 'decided_at'> & ReviewColumns,
  entry: Entry,
  descriptions: Descriptions,
  batchModelVersion: string,
): Decision {
  const [input, probability, score, , reasons, hits, model, , challenger] = entry;
  return {
    id: FIRST_LAYOUT_ID.test(row.batch_id) ? row.batch_id : decisionId(row.batch_id, row.position),
    applicationRef: row.application_ref,
    outcome: row.outcome,
    probabilityOfDefault: probability,
    score,
    reasons: reasons.map((r) =>
      Array.isArray(r)
        ? { code: r[0], description: descriptions.r?.[r[0]] ?? '', source: r[1], feature: r[2], impact: r[3], ruleId: r[4] }
        : r,
    ),
    policyHits: hits.map((h) => (Array.isArray(h) ? { ruleId: h[0], effect: h[1], description: descriptions.h?.[h[0]] ?? '' } : h)),
    modelVersion: model?.[0] ?? batchModelVersion,
    policyVersion: row.policy_version,
    decidedAt: new Date(row.decided_at),
    application: input as LoanApplication,
    review: reviewFromRow(row),
    challenger: challenger && {
      modelVersion: challenger[2] ?? descriptions.c![0],
      sha256: challenger[3] ?? descriptions.c![1],
      probabilityOfDefault: challenger[0],
      outcome: challenger[1],
    },
  };
}
