/**
 * Issue 13: the decision history (a Relay connection) and a person's review of every REFER, through the API
 * (yoga.fetch, the real model, a real SQLite trail). Each role against each field: partner keys read their own
 * decisions, reviewer keys and the admin key all, no key none; only a reviewer key reviews, once, a REFER.
 */
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { parseConfig } from '../src/config.js';
import { createApp } from '../src/app.js';
import type { LoanApplication } from '../src/model/application.js';
import { post, startTestAppsClosedAfterAll, type TestApp } from './helpers/app.js';
import { applications } from './helpers/applications.js';
import { ADMIN_KEY, KEY_ENV, OTHER_KEY, PARTNER_KEY, sha256 } from './helpers/ops.js';

const REVIEWER_KEY = 'test-reviewer-key-4d2e81';
const OTHER_REVIEWER_KEY = 'test-reviewer-key-9a0b7c';
const ENV = { ...KEY_ENV, REVIEWER_KEYS: `officer-1:${sha256(REVIEWER_KEY)},officer-2:${sha256(OTHER_REVIEWER_KEY)}` };
const as = (key: string) => ({ 'x-api-key': key });
const ADMIN = { 'x-admin-key': ADMIN_KEY };

const start = startTestAppsClosedAfterAll();
let app: TestApp;
/** applications the model refers, and ones it decides alone */
let refer: LoanApplication[];
let decided: LoanApplication[];

const SCORE = `mutation($i: [LoanApplicationInput!]!) { scoreApplications(inputs: $i) { ... on Decision { id outcome applicationRef } } }`;
const PAGE = `query($filter: DecisionFilter, $first: Int, $after: String) {
  decisions(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id outcome finalOutcome applicationRef review { outcome reasonCodes reviewer } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;
const REVIEW = `mutation($id: ID!, $outcome: ReviewOutcome!, $codes: [String!], $note: String) {
  reviewDecision(id: $id, outcome: $outcome, reasonCodes: $codes, note: $note) {
    review { outcome reasonCodes note reviewer reviewedAt }
    decision { id outcome finalOutcome review { outcome } }
  }
}`;

interface Made {
  id: string;
  outcome: string;
  applicationRef: string;
}

async function score(target: TestApp, inputs: LoanApplication[], key: string): Promise<Made[]> {
  const r = await post(target, { query: SCORE, variables: { i: inputs } }, as(key));
  expect(r.status, r.text).toBe(200);
  return r.json.data.scoreApplications;
}

async function page(target: TestApp, headers: Record<string, string>, variables: Record<string, unknown> = {}) {
  return post(target, { query: PAGE, variables }, headers);
}

async function review(target: TestApp, headers: Record<string, string>, variables: Record<string, unknown>) {
  return post(target, { query: REVIEW, variables }, headers);
}

const ids = (r: Awaited<ReturnType<typeof page>>) => r.json.data.decisions.edges.map((e: { node: { id: string } }) => e.node.id);

beforeAll(async () => {
  app = await start(ENV);
  const probe = applications(120);
  const outcomes = await score(app, probe, PARTNER_KEY);
  refer = probe.filter((_, i) => outcomes[i].outcome === 'REFER');
  decided = probe.filter((_, i) => outcomes[i].outcome !== 'REFER');
  expect(refer.length).toBeGreaterThanOrEqual(8);
});

describe('who reads the history', () => {
  let acme: Made[];
  let globex: Made[];
  let shared: TestApp;
  beforeAll(async () => {
    shared = await start(ENV);
    acme = await score(shared, applications(5).map((a, i) => ({ ...a, applicationRef: `acme-${i}` })), PARTNER_KEY);
    globex = await score(shared, applications(3).map((a, i) => ({ ...a, applicationRef: `globex-${i}` })), OTHER_KEY);
  });

  it('a partner its own, newest first; a reviewer and the admin all; no key and a wrong key none', async () => {
    const newestFirst = (made: Made[]) => [...made].reverse().map((d) => d.id);
    expect(ids(await page(shared, as(PARTNER_KEY)))).toEqual(newestFirst(acme));
    expect(ids(await page(shared, as(OTHER_KEY)))).toEqual(newestFirst(globex));
    const all = [...newestFirst(globex), ...newestFirst(acme)];
    expect(ids(await page(shared, as(REVIEWER_KEY)))).toEqual(all);
    expect(ids(await page(shared, ADMIN))).toEqual(all);
    expect(ids(await page(shared, {}))).toEqual([]);
    expect(ids(await page(shared, as('not-a-key')))).toEqual([]);
  });

  it('decision(id): a reviewer reads any partner\'s decision; a partner only its own', async () => {
    const q = `query($id: ID!) { decision(id: $id) { id applicationRef application { applicationRef creditScore } } }`;
    const read = async (headers: Record<string, string>) => (await post(shared, { query: q, variables: { id: globex[0].id } }, headers)).json.data.decision;
    expect(await read(as(REVIEWER_KEY))).toMatchObject({ id: globex[0].id, application: { applicationRef: 'globex-0', creditScore: applications(3)[0].creditScore } });
    expect(await read(as(OTHER_KEY))).toMatchObject({ id: globex[0].id });
    expect(await read(as(PARTNER_KEY))).toBeNull();
  });

  it('a reviewer key scores nothing: mutations other than reviews need a partner key', async () => {
    const r = await post(shared, { query: SCORE, variables: { i: applications(1) } }, as(REVIEWER_KEY));
    expect(r.status).toBe(401);
    expect(r.json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('paging', () => {
  let target: TestApp;
  let made: Made[];
  beforeAll(async () => {
    target = await start(ENV);
    made = [];
    // three requests: their decisions interleave in time order by request, then position
    for (const n of [100, 100, 50]) made.push(...(await score(target, applications(n), PARTNER_KEY)));
  });

  it('walks 250 decisions in pages of 100 with opaque cursors, each once, newest first', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    const sizes: number[] = [];
    for (;;) {
      const r = await page(target, as(PARTNER_KEY), { first: 100, after });
      expect(r.json.errors).toBeUndefined();
      const { edges, pageInfo } = r.json.data.decisions;
      sizes.push(edges.length);
      seen.push(...edges.map((e: { node: { id: string } }) => e.node.id));
      expect(pageInfo.hasPreviousPage).toBe(after !== null);
      expect(pageInfo.endCursor).toBe(edges.at(-1)?.cursor ?? null);
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
      // opaque: not a decision id, nothing a client can take apart by design
      expect(after).not.toContain(edges.at(-1).node.id);
    }
    expect(sizes).toEqual([100, 100, 50]);
    expect(new Set(seen).size).toBe(250);
    // newest first: the last request's decisions, last position first
    const byRequest = [made.slice(200), made.slice(100, 200), made.slice(0, 100)].flatMap((r) => r.map((d) => d.id).reverse());
    expect(seen).toEqual(byRequest);
  });

  it('refuses first over 100 or negative and a cursor it did not make; first: 0 is an empty page', async () => {
    for (const first of [101, -1]) {
      const r = await page(target, as(PARTNER_KEY), { first });
      expect(r.json.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    }
    for (const after of ['nonsense', Buffer.from('["x",1,2]').toString('base64url'), 'A'.repeat(300)]) {
      const r = await page(target, as(PARTNER_KEY), { after });
      expect(r.json.errors[0].extensions, after).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    }
    const empty = await page(target, as(PARTNER_KEY), { first: 0 });
    expect(empty.json.data.decisions).toMatchObject({ edges: [], pageInfo: { hasNextPage: false } });
  });

  it('passes the default query limits with a full page of 100 (every field); two such pages in one operation do not', async () => {
    const node = `id applicationRef outcome finalOutcome probabilityOfDefault score modelVersion policyVersion decidedAt
      reasons { code description source feature impact ruleId } policyHits { ruleId effect description }
      application { applicationRef annualIncome monthlyDebt loanAmount loanTermMonths loanPurpose creditScore employmentYears
        homeOwnership openCreditLines delinquencies2y revolvingUtilization }
      review { outcome reasonCodes note reviewer reviewedAt }`;
    const pageOf = (alias: string) => `${alias}: decisions(first: 100) { edges { cursor node { ${node} } } pageInfo { hasNextPage endCursor } }`;
    const one = await post(target, { query: `{ ${pageOf('a')} }` }, as(PARTNER_KEY));
    expect(one.json.errors).toBeUndefined();
    expect(one.json.data.a.edges).toHaveLength(100);
    const two = await post(target, { query: `{ ${pageOf('a')} ${pageOf('b')} }` }, as(PARTNER_KEY));
    expect(two.status).toBe(400);
    expect(two.json.errors[0].extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'cost' });
  });

  it('filters by outcome, application reference, model version and time', async () => {
    const declines = ids(await page(target, as(PARTNER_KEY), { filter: { outcome: 'DECLINE' }, first: 100 }));
    expect(declines.length).toBeGreaterThan(0);
    expect(declines.every((id: string) => made.find((d) => d.id === id)?.outcome === 'DECLINE')).toBe(true);
    const ref = await page(target, as(PARTNER_KEY), { filter: { applicationRef: 'app-7' } });
    // app-7 was sent in each of the three requests
    expect(ids(ref)).toEqual(made.filter((d) => d.applicationRef === 'app-7').map((d) => d.id).reverse());
    expect(ids(await page(target, as(PARTNER_KEY), { filter: { modelVersion: 'loan-default-lr-1.0.0' }, first: 5 }))).toHaveLength(5);
    expect(ids(await page(target, as(PARTNER_KEY), { filter: { modelVersion: 'other-9.9.9' } }))).toEqual([]);
    expect(ids(await page(target, as(PARTNER_KEY), { filter: { from: new Date(Date.now() + 60_000).toISOString() } }))).toEqual([]);
    expect(ids(await page(target, as(PARTNER_KEY), { filter: { to: '2000-01-01T00:00:00Z' } }))).toEqual([]);
  });
});

describe('review of referrals', () => {
  it('only a reviewer key reviews: a partner key is forbidden, no key or the admin key unauthenticated', async () => {
    const [d] = await score(app, [refer[0]], PARTNER_KEY);
    const vars = { id: d.id, outcome: 'APPROVE' };
    const partner = await review(app, as(PARTNER_KEY), vars);
    expect({ status: partner.status, code: partner.json.errors[0].extensions.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    for (const headers of [{}, ADMIN, as('not-a-key')]) {
      const r = await review(app, headers, vars);
      expect({ status: r.status, code: r.json.errors[0].extensions.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    }
    const noReviewers = await start(KEY_ENV);
    const [other] = await score(noReviewers, [refer[0]], PARTNER_KEY);
    const off = await review(noReviewers, as(REVIEWER_KEY), { id: other.id, outcome: 'APPROVE' });
    expect({ status: off.status, code: off.json.errors[0].extensions.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
  });

  it('records a DECLINE once beside the decision; finalOutcome follows it; a second review is ALREADY_REVIEWED', async () => {
    const [d] = await score(app, [refer[1]], PARTNER_KEY);
    expect(d.outcome).toBe('REFER');
    const r = await review(app, as(REVIEWER_KEY), { id: d.id, outcome: 'DECLINE', codes: ['CREDIT_SCORE', 'DELINQUENCIES'], note: 'Two recent delinquencies.\nBureau checked.' });
    expect(r.json.errors).toBeUndefined();
    expect(r.json.data.reviewDecision).toMatchObject({
      review: { outcome: 'DECLINE', reasonCodes: ['CREDIT_SCORE', 'DELINQUENCIES'], note: 'Two recent delinquencies.\nBureau checked.', reviewer: 'officer-1' },
      decision: { id: d.id, outcome: 'REFER', finalOutcome: 'DECLINE', review: { outcome: 'DECLINE' } },
    });
    const read = await post(app, { query: `query($id: ID!) { decision(id: $id) { outcome finalOutcome review { outcome reasonCodes reviewer reviewedAt } } }`, variables: { id: d.id } }, as(PARTNER_KEY));
    // the partner sees the review of its application; the model's outcome is kept as it was
    expect(read.json.data.decision).toMatchObject({ outcome: 'REFER', finalOutcome: 'DECLINE', review: { reviewer: 'officer-1' } });
    const again = await review(app, as(OTHER_REVIEWER_KEY), { id: d.id, outcome: 'APPROVE' });
    expect(again.json.errors[0].extensions.code).toBe('ALREADY_REVIEWED');
    const text = await (await app.metrics.registry.getSingleMetricAsString('loan_api_reviews_total'));
    expect(text).toContain('loan_api_reviews_total{outcome="DECLINE"} 1');
  });

  it('refuses what breaks a rule, naming the field; a decision that is not a REFER is NOT_REVIEWABLE', async () => {
    const [d] = await score(app, [refer[2]], PARTNER_KEY);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ outcome: 'DECLINE' }, 'reasonCodes'],
      [{ outcome: 'DECLINE', codes: ['NOT_A_CODE'] }, 'reasonCodes'],
      [{ outcome: 'DECLINE', codes: ['CREDIT_SCORE', 'INCOME', 'LOAN_AMOUNT', 'LOAN_TERM', 'DELINQUENCIES'] }, 'reasonCodes'],
      [{ outcome: 'DECLINE', codes: ['INCOME', 'INCOME'] }, 'reasonCodes'],
      [{ outcome: 'APPROVE', note: 'x'.repeat(2_001) }, 'note'],
      [{ outcome: 'APPROVE', note: 'bell \u0007' }, 'note'],
    ];
    for (const [vars, field] of cases) {
      const r = await review(app, as(REVIEWER_KEY), { id: d.id, ...vars });
      expect(r.json.errors?.[0].extensions, JSON.stringify(vars).slice(0, 80)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    // nothing was recorded by the refusals: the decision is still in the queue, and can be reviewed
    expect((await review(app, as(REVIEWER_KEY), { id: d.id, outcome: 'APPROVE', note: 'x'.repeat(2_000) })).json.errors).toBeUndefined();

    const [plain] = await score(app, [decided[0]], PARTNER_KEY);
    expect((await review(app, as(REVIEWER_KEY), { id: plain.id, outcome: 'APPROVE' })).json.errors[0].extensions.code).toBe('NOT_REVIEWABLE');
    expect((await review(app, as(REVIEWER_KEY), { id: 'no-such-decision.0', outcome: 'APPROVE' })).json.errors[0].extensions.code).toBe('NOT_FOUND');
  });

  it("the PENDING filter is the officer's queue: a reviewed REFER leaves it and shows under REVIEWED", async () => {
    const queueApp = await start(ENV);
    const made = await score(queueApp, [refer[3], decided[1], refer[4], refer[5]], PARTNER_KEY);
    const referred = made.filter((d) => d.outcome === 'REFER').map((d) => d.id).reverse();
    expect(ids(await page(queueApp, as(REVIEWER_KEY), { filter: { reviewState: 'PENDING' } }))).toEqual(referred);
    await review(queueApp, as(REVIEWER_KEY), { id: referred[1], outcome: 'APPROVE' });
    expect(ids(await page(queueApp, as(REVIEWER_KEY), { filter: { reviewState: 'PENDING' } }))).toEqual([referred[0], referred[2]]);
    expect(ids(await page(queueApp, as(REVIEWER_KEY), { filter: { reviewState: 'REVIEWED' } }))).toEqual([referred[1]]);
  });

  it('is append-only in the SQLite file too: an update is refused', async () => {
    const [d] = await score(app, [refer[6]], PARTNER_KEY);
    await review(app, as(REVIEWER_KEY), { id: d.id, outcome: 'APPROVE' });
    const db = new Database(app.config.audit.file);
    try {
      expect(() => db.prepare(`UPDATE reviews SET outcome = 'DECLINE'`).run()).toThrow('reviews are append-only');
    } finally {
      db.close();
    }
  });

  it('two replicas reviewing one decision at once record exactly one review', async () => {
    const one = await start(ENV);
    // a second replica on the same audit file
    const config = parseConfig({ LOG_LEVEL: 'silent', ...ENV, AUDIT_DB: one.config.audit.file });
    const two = createApp(config, createLogger('silent'));
    await two.start();
    try {
      const made = await score(one, refer.slice(0, 6), PARTNER_KEY);
      for (const d of made) {
        const [a, b] = await Promise.all([
          review(one, as(REVIEWER_KEY), { id: d.id, outcome: 'APPROVE' }),
          review({ ...two, config } as unknown as TestApp, as(OTHER_REVIEWER_KEY), { id: d.id, outcome: 'DECLINE', codes: ['INCOME'] }),
        ]);
        const codes = [a, b].map((r) => r.json.errors?.[0].extensions.code ?? 'OK').sort();
        expect(codes, d.id).toEqual(['ALREADY_REVIEWED', 'OK']);
        const winner = a.json.errors ? b.json.data.reviewDecision.review : a.json.data.reviewDecision.review;
        const stored = await one.audit!.getDecision(d.id);
        expect(stored!.decision.review).toMatchObject({ outcome: winner.outcome, reviewer: winner.reviewer });
      }
    } finally {
      await two.close();
    }
  });
});

