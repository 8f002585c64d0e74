import type { Decision, PolicyHitView, Reason } from '../decision.js';

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

export interface DecisionRow {
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
 * they are not the batch's. An entry migrated from the first layout holds reasons and hits as objects, then the
 * feature values.
 */
export type Entry = [
  input: unknown,
  probability: number,
  score: number,
  outcome: Decision['outcome'],
  reasons: Array<[string, Reason['source'], string, number, string | null] | Reason>,
  hits: Array<[string, PolicyHitView['effect']] | PolicyHitView>,
  model?: [version: string, sha256: string] | null,
  features?: Record<string, number>,
];

export function decisionFromRow(row: DecisionRow): Decision {
  const [, probability, score, , reasons, hits, model] = JSON.parse(row.entry) as Entry;
  const descriptions = JSON.parse(row.descriptions) as { r?: Record<string, string>; h?: Record<string, string> };
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
    modelVersion: model?.[0] ?? row.model_version,
    policyVersion: row.policy_version,
    decidedAt: new Date(row.decided_at),
  };
}

