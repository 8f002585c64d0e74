import type { Decision } from '../decision.js';
import type { DecisionOutcome } from '../outcome.js';
import { decisionFromEntry, type Descriptions, type Entry, type ReviewColumns } from './records.js';

/** What a frontend may narrow the history by; every field optional, all of them ANDed. */
export interface DecisionFilter {
  outcome?: DecisionOutcome | null;
  /** PENDING: a REFER without a review (a loan officer's queue); REVIEWED: a decision with a review */
  reviewState?: 'PENDING' | 'REVIEWED' | null;
  /** decided at or after */
  from?: Date | null;
  /** decided before */
  to?: Date | null;
  applicationRef?: string | null;
  modelVersion?: string | null;
}

/** Where a page ends: the last decision's time and id. */
export interface HistoryCursor {
  decidedAt: string;
  batchId: string;
  position: number;
}

export interface HistoryQuery {
  /** one partner's decisions only (its key id), or undefined for every partner's */
  caller?: string;
  filter: DecisionFilter;
  after?: HistoryCursor;
  limit: number;
}

/** Opaque to clients: base64url of the last decision's time and id. */
export function encodeCursor(decision: Decision): string {
  const dot = decision.id.lastIndexOf('.');
  const [batchId, position] = dot < 0 ? [decision.id, 0] : [decision.id.slice(0, dot), Number.parseInt(decision.id.slice(dot + 1), 36)];
  return Buffer.from(JSON.stringify([decision.decidedAt.toISOString(), batchId, position])).toString('base64url');
}

/** undefined for anything this service did not hand out as a cursor */
export function decodeCursor(cursor: string): HistoryCursor | undefined {
  if (cursor.length > 200) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 3) return undefined;
    const [decidedAt, batchId, position] = value as unknown[];
    if (typeof decidedAt !== 'string' || Number.isNaN(Date.parse(decidedAt)) || new Date(decidedAt).toISOString() !== decidedAt) return undefined;
    if (typeof batchId !== 'string' || batchId.length === 0 || batchId.length > 64) return undefined;
    if (typeof position !== 'number' || !Number.isSafeInteger(position) || position < 0) return undefined;
    return { decidedAt, batchId, position };
  } catch {
    return undefined;
  }
}

/** An index row of a listed decision, and its review. */
export interface ListedRow extends ReviewColumns {
  batch_id: string;
  position: number;
  caller: string | null;
  outcome: DecisionOutcome;
  decided_at: string | Date;
  application_ref: string | null;
  model_version: string | null;
}

export interface ListedBatch {
  batch_id: string;
  body: string;
  descriptions: string;
  model_version: string;
  policy_version: string;
}

/**
 * The history query in either engine's SQL and its values: `placeholder` names the nth value (? or $n). Newest first
 * by (decided_at, batch_id, position), which the decisions_by_time and decisions_by_caller indexes hold in order.
 */
export function historyStatement(query: HistoryQuery, placeholder: (n: number) => string): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const param = (value: unknown) => placeholder(params.push(value));
  return { sql: historySql(query, param), params };
}

function historySql(query: HistoryQuery, param: (value: unknown) => string): string {
  const where: string[] = [];
  const { filter, after } = query;
  if (query.caller !== undefined) where.push(`d.caller = ${param(query.caller)}`);
  if (filter.outcome) where.push(`d.outcome = ${param(filter.outcome)}`);
  if (filter.reviewState === 'PENDING') where.push(`d.outcome = 'REFER' AND r.batch_id IS NULL`);
  if (filter.reviewState === 'REVIEWED') where.push('r.batch_id IS NOT NULL');
  if (filter.from) where.push(`d.decided_at >= ${param(filter.from.toISOString())}`);
  if (filter.to) where.push(`d.decided_at < ${param(filter.to.toISOString())}`);
  if (filter.applicationRef != null) where.push(`d.application_ref = ${param(filter.applicationRef)}`);
  if (filter.modelVersion != null) {
    where.push(
      `coalesce(d.model_version, (SELECT b.model_version FROM decision_batches b WHERE b.batch_id = d.batch_id)) = ${param(filter.modelVersion)}`,
    );
  }
  if (after) where.push(`(d.decided_at, d.batch_id, d.position) < (${param(after.decidedAt)}, ${param(after.batchId)}, ${param(after.position)})`);
  return `SELECT d.batch_id, d.position, d.caller, d.outcome, d.decided_at, d.application_ref, d.model_version,
      r.outcome AS review_outcome, CAST(r.reason_codes AS TEXT) AS review_reason_codes, r.note AS review_note,
      r.reviewer AS review_reviewer, r.reviewed_at AS review_reviewed_at
    FROM decisions d LEFT JOIN reviews r ON r.batch_id = d.batch_id AND r.position = d.position
    ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY d.decided_at DESC, d.batch_id DESC, d.position DESC
    LIMIT ${param(query.limit)}`;
}

/** The page's decisions: each batch body is parsed once, however many of the page's decisions it holds. */
export function decisionsFromBatches(rows: ListedRow[], batches: ListedBatch[]): Decision[] {
  const byId = new Map<string, { entries: Entry[]; descriptions: Descriptions; batch: ListedBatch }>();
  for (const batch of batches) {
    byId.set(batch.batch_id, {
      entries: JSON.parse(batch.body) as Entry[],
      descriptions: JSON.parse(batch.descriptions) as Descriptions,
      batch,
    });
  }
  return rows.map((row) => {
    const found = byId.get(row.batch_id);
    if (!found) throw new Error(`the batch of a listed decision is missing: ${row.batch_id}`);
    return decisionFromEntry({ ...row, policy_version: found.batch.policy_version }, found.entries[row.position], found.descriptions, row.model_version ?? found.batch.model_version);
  });
}
