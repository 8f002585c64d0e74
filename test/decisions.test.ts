import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOME_OWNERSHIPS, LOAN_PURPOSES } from '../src/model/application.js';
import { applications, goodApplication, riskyApplication } from './helpers/applications.js';
import { DECISION_FIELDS, DECISION_SELECTION, post, SCORE_MANY, startTestApp, type TestApp } from './helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

const SCORE_WITH_KEY = /* GraphQL */ `mutation($input: LoanApplicationInput!, $key: String) {
  scoreApplication(input: $input, idempotencyKey: $key) { ${DECISION_FIELDS} }
}`;
const SCORE_MANY_WITH_KEYS = /* GraphQL */ `mutation($inputs: [LoanApplicationInput!]!, $keys: [String]) {
  scoreApplications(inputs: $inputs, idempotencyKeys: $keys) { ${DECISION_FIELDS} }
}`;
const GET_DECISION = /* GraphQL */ `query($id: ID!) { decision(id: $id) { ${DECISION_SELECTION} } }`;

async function score(input: unknown, key?: string) {
  return post(app, { query: SCORE_WITH_KEY, variables: { input, key } });
}

describe('policy in decisions', () => {
  it.each([
    ['KO-001', 'DECLINE', { creditScore: 480 }],
    ['KO-002', 'DECLINE', { monthlyDebt: 6_000 }],
    ['KO-003', 'DECLINE', { annualIncome: 20_000, loanAmount: 120_000, loanTermMonths: 480, monthlyDebt: 0 }],
    ['RF-001', 'REFER', { delinquencies2y: 7 }],
  ])('%s makes a sound application %s, a rule first among its reasons', async (ruleId, outcome, change) => {
    const { json } = await score({ ...goodApplication, ...change });
    const decision = json.data.scoreApplication;
    expect(decision.outcome).toBe(outcome);
    expect(decision.policyHits.map((h: { ruleId: string }) => h.ruleId)).toContain(ruleId);
    expect(decision.policyHits.find((h: { ruleId: string }) => h.ruleId === ruleId).effect).toBe(outcome);
    expect(decision.reasons[0].source).toBe('POLICY');
    expect(decision.reasons.find((r: { ruleId: string }) => r.ruleId === ruleId)).toMatchObject({ source: 'POLICY' });
    expect(decision.policyVersion).toBe('policy-2026.1');
  });

  it('still records the model probability when a rule decides', async () => {
    const { json } = await score({ ...goodApplication, creditScore: 480 });
    expect(json.data.scoreApplication.probabilityOfDefault).toBeGreaterThan(0);
    expect(json.data.scoreApplication.probabilityOfDefault).toBeLessThan(app.state.model!.manifest.thresholds.decline);
  });

  it('gives every non-approved decision 1 to 4 reasons, citing only rules hit, fields scored and the applicant’s categories', async () => {
    const served = new Set<string>(app.state.model!.explainedFields);
    const inputs = [...applications(150), riskyApplication].map((a, i) => ({
      ...a,
      homeOwnership: HOME_OWNERSHIPS[i % HOME_OWNERSHIPS.length],
      loanPurpose: LOAN_PURPOSES[(i * 3) % LOAN_PURPOSES.length],
    }));
    const { json } = await post(app, { query: SCORE_MANY, variables: { inputs } });
    let checked = 0;
    let categorical = 0;
    json.data.scoreApplications.forEach((decision: { outcome: string; reasons: { source: string; feature: string; code: string; ruleId: string | null }[]; policyHits: { ruleId: string }[] }, i: number) => {
      if (decision.outcome === 'APPROVE') return;
      checked++;
      expect(decision.reasons.length).toBeGreaterThanOrEqual(1);
      expect(decision.reasons.length).toBeLessThanOrEqual(4);
      const hitIds = decision.policyHits.map((h) => h.ruleId);
      for (const reason of decision.reasons) {
        if (reason.source === 'POLICY') expect(hitIds).toContain(reason.ruleId);
        else expect(served.has(reason.feature)).toBe(true);
        if (reason.feature === 'homeOwnership') expect(reason.code).toBe(`HOME_OWNERSHIP_${inputs[i].homeOwnership}`);
        if (reason.feature === 'loanPurpose') expect(reason.code).toBe(`LOAN_PURPOSE_${inputs[i].loanPurpose}`);
        if (/^(HOME_OWNERSHIP|LOAN_PURPOSE)_/.test(reason.code)) categorical++;
      }
    });
    expect(checked).toBeGreaterThan(10);
    expect(categorical).toBeGreaterThan(0);
  });
});

describe('audit trail', () => {
  it('stores every decision before answering, and decision(id) returns it', async () => {
    const { json } = await score(riskyApplication);
    const made = json.data.scoreApplication;
    const record = (await app.audit!.getRecord(made.id))!;
    expect(record).toMatchObject({
      id: made.id,
      application_ref: 'risky-1',
      outcome: made.outcome,
      model_version: made.modelVersion,
      model_sha256: app.state.model!.sha256,
      policy_version: 'policy-2026.1',
    });
    const [storedInput, storedProbability, storedScore, storedOutcome, storedReasons] = record.entry as [unknown, number, number, string, unknown[][]];
    expect(storedInput).toEqual(riskyApplication);
    expect([storedProbability, storedScore, storedOutcome]).toEqual([made.probabilityOfDefault, made.score, made.outcome]);
    expect(storedReasons.map((r) => r[0])).toEqual(made.reasons.map((r: { code: string }) => r.code));
    expect(record.latency_ms).toBeGreaterThan(0);

    const fetched = (await post(app, { query: GET_DECISION, variables: { id: made.id } })).json.data.decision;
    const { __typename, ...madeFields } = made;
    expect(fetched).toEqual(madeFields);
    expect(fetched.id).toBe(made.id);
    expect(fetched.reasons).toEqual(made.reasons);
    expect(fetched.policyHits).toEqual(made.policyHits);
    expect(fetched.decidedAt).toBe(made.decidedAt);
    expect(fetched.probabilityOfDefault).toBe(made.probabilityOfDefault);
  });

  it('answers null for an unknown id', async () => {
    const { json } = await post(app, { query: GET_DECISION, variables: { id: 'no-such-decision' } });
    expect(json.data.decision).toBeNull();
  });

  it('writes a 200-item bulk in one transaction, and keeps invalid items out', async () => {
    const before = { tx: app.audit!.transactions, rows: (await app.audit!.count()) };
    const inputs = [...applications(200), { ...goodApplication, creditScore: 10 }];
    const { json } = await post(app, { query: SCORE_MANY, variables: { inputs } });
    expect(json.data.scoreApplications).toHaveLength(201);
    expect(app.audit!.transactions - before.tx).toBe(1);
    expect((await app.audit!.count()) - before.rows).toBe(200);
  });
});

describe('idempotency', () => {
  it('returns the stored decision for a repeat, without deciding again', async () => {
    const rows = (await app.audit!.count());
    const first = (await score(goodApplication, 'key-repeat')).json.data.scoreApplication;
    const again = (await score({ ...goodApplication }, 'key-repeat')).json.data.scoreApplication;
    expect(again.id).toBe(first.id);
    expect(again.decidedAt).toBe(first.decidedAt);
    expect((await app.audit!.count()) - rows).toBe(1);
  });

  it('refuses the same key with a different application', async () => {
    await score(goodApplication, 'key-reused');
    const { json } = await score({ ...goodApplication, loanAmount: 12_345 }, 'key-reused');
    expect(json.data).toBeNull();
    expect(json.errors[0].extensions.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(json.errors[0].message).toContain('key-reused');
  });

  it('makes exactly one decision for concurrent requests with one key', async () => {
    const rows = (await app.audit!.count());
    const results = await Promise.all(Array.from({ length: 8 }, () => score(riskyApplication, 'key-concurrent')));
    const ids = new Set(results.map((r) => r.json.data.scoreApplication.id));
    expect(ids.size).toBe(1);
    expect((await app.audit!.count()) - rows).toBe(1);
  });

  it('takes one key per bulk item; a reused key fails only its own item', async () => {
    await score(goodApplication, 'bulk-0');
    const inputs = applications(3);
    const keys = ['bulk-0', 'bulk-1', null];
    const { json } = await post(app, { query: SCORE_MANY_WITH_KEYS, variables: { inputs, keys } });
    const [first, second, third] = json.data.scoreApplications;
    expect(first.__typename).toBe('InvalidApplication');
    expect(first.fieldErrors[0]).toMatchObject({ field: 'idempotencyKeys.0', code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(second.__typename).toBe('Decision');
    expect(third.__typename).toBe('Decision');
    const replay = (await post(app, { query: SCORE_MANY_WITH_KEYS, variables: { inputs: [inputs[1]], keys: ['bulk-1'] } })).json;
    expect(replay.data.scoreApplications[0].id).toBe(second.id);
  });

  it('decides one key once within a bulk: a repeat of it replays, another application under it is refused', async () => {
    const rows = (await app.audit!.count());
    const [a, b] = applications(2);
    const keys = ['dup-1', 'dup-1', 'dup-1', 'dup-2'];
    const { json } = await post(app, { query: SCORE_MANY_WITH_KEYS, variables: { inputs: [a, a, b, b], keys } });
    const [first, repeat, other, fourth] = json.data.scoreApplications;
    expect(first.__typename).toBe('Decision');
    expect(repeat).toEqual(first);
    expect(other.fieldErrors[0]).toMatchObject({ field: 'idempotencyKeys.2', code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(fourth.__typename).toBe('Decision');
    expect((await app.audit!.count()) - rows).toBe(2);
  });

  it('refuses keys whose count does not match the inputs', async () => {
    const { json } = await post(app, { query: SCORE_MANY_WITH_KEYS, variables: { inputs: applications(2), keys: ['a'] } });
    expect(json.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('refuses an overlong key as a typed field error', async () => {
    const { json } = await score(goodApplication, 'k'.repeat(201));
    expect(json.data.scoreApplication.fieldErrors).toEqual([
      { field: 'idempotencyKey', code: 'OUT_OF_RANGE', message: 'idempotencyKey must be 1 to 200 characters' },
    ]);
  });
});

describe('with the audit switched off', () => {
  it('decides, keeps nothing, and refuses idempotency keys rather than ignoring them', async () => {
    const off = await startTestApp({ AUDIT: 'off' });
    try {
      const made = (await post(off, { query: SCORE_WITH_KEY, variables: { input: goodApplication } })).json.data.scoreApplication;
      expect(made.__typename).toBe('Decision');
      expect((await post(off, { query: GET_DECISION, variables: { id: made.id } })).json.data.decision).toBeNull();
      const keyed = (await post(off, { query: SCORE_WITH_KEY, variables: { input: goodApplication, key: 'k' } })).json;
      expect(keyed.data.scoreApplication.fieldErrors[0].code).toBe('IDEMPOTENCY_UNAVAILABLE');
    } finally {
      await off.close();
    }
  });
});
