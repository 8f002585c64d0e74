import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode } from '../src/model/features.js';
import { applications, goodApplication, riskyApplication } from './helpers/applications.js';
import { GRAPHQL_RESPONSE, post, SCORE_MANY, SCORE_ONE, startTestApp, type TestApp } from './helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ BULK_MAX_ITEMS: '250' });
});
afterAll(async () => {
  await app.close();
});

async function directProbability(input: typeof goodApplication) {
  const model = app.state.model!;
  const p = await model.predict(encode([input], model.features), 1);
  return p[0];
}

describe('scoreApplication', () => {
  it('decides with the served model and explains a risky application', async () => {
    const { status, json } = await post(app, { query: SCORE_ONE, variables: { input: riskyApplication } });
    expect(status).toBe(200);
    const decision = json.data.scoreApplication;
    expect(decision.__typename).toBe('Decision');
    expect(decision.applicationRef).toBe('risky-1');
    expect(decision.probabilityOfDefault).toBeCloseTo(await directProbability(riskyApplication), 5);
    const { thresholds } = app.state.model!.manifest;
    expect(decision.probabilityOfDefault).toBeGreaterThanOrEqual(thresholds.decline);
    expect(decision.outcome).toBe('DECLINE');
    expect(decision.score).toBeGreaterThanOrEqual(300);
    expect(decision.score).toBeLessThan(700);
    expect(decision.reasons.length).toBeGreaterThan(0);
    expect(decision.reasons.length).toBeLessThanOrEqual(4);
    const modelReasons = decision.reasons.filter((r: { source: string }) => r.source === 'MODEL');
    expect(modelReasons.length).toBeGreaterThan(0);
    const impacts = modelReasons.map((r: { impact: number }) => r.impact);
    expect(impacts).toEqual([...impacts].sort((a, b) => b - a));
    const served = new Set(app.state.model!.explainedFields);
    for (const reason of modelReasons) {
      expect(served.has(reason.feature)).toBe(true);
      expect(reason.impact).toBeGreaterThan(0);
      expect(reason.code).toMatch(/^[A-Z0-9_]+$/);
      expect(reason.description.length).toBeGreaterThan(0);
    }
    expect(decision.modelVersion).toBe(`${app.state.model!.manifest.name}-${app.state.model!.manifest.version}`);
    expect(Math.abs(Date.parse(decision.decidedAt) - Date.now())).toBeLessThan(60_000);
  });

  it('approves a strong application with a higher score than the risky one', async () => {
    const good = (await post(app, { query: SCORE_ONE, variables: { input: goodApplication } })).json.data.scoreApplication;
    const risky = (await post(app, { query: SCORE_ONE, variables: { input: riskyApplication } })).json.data.scoreApplication;
    expect(good.outcome).toBe('APPROVE');
    expect(good.probabilityOfDefault).toBeLessThan(app.state.model!.manifest.thresholds.approve);
    expect(good.score).toBeGreaterThan(risky.score);
    expect(good.id).not.toBe(risky.id);
  });

  it('gives every decision its own id', async () => {
    const { json } = await post(app, { query: SCORE_MANY, variables: { inputs: applications(50) } });
    const ids = json.data.scoreApplications.map((d: { id: string }) => d.id);
    expect(new Set(ids).size).toBe(50);
  });

  it('lists every broken rule of an invalid application', async () => {
    const input = {
      ...goodApplication,
      applicationRef: 'x'.repeat(65),
      annualIncome: 0,
      monthlyDebt: -1,
      loanAmount: 2_000_000,
      loanTermMonths: 500,
      creditScore: 299,
      employmentYears: 61,
      openCreditLines: 101,
      delinquencies2y: 51,
      revolvingUtilization: 2.5,
    };
    const { status, json } = await post(app, { query: SCORE_ONE, variables: { input } });
    expect(status).toBe(200);
    const result = json.data.scoreApplication;
    expect(result.__typename).toBe('InvalidApplication');
    const fields = result.fieldErrors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(
      [
        'applicationRef',
        'annualIncome',
        'monthlyDebt',
        'loanAmount',
        'loanTermMonths',
        'creditScore',
        'employmentYears',
        'openCreditLines',
        'delinquencies2y',
        'revolvingUtilization',
      ].sort(),
    );
    const income = result.fieldErrors.find((e: { field: string }) => e.field === 'annualIncome');
    expect(income).toEqual({
      field: 'annualIncome',
      code: 'OUT_OF_RANGE',
      message: 'annualIncome must be greater than 0 and at most 10,000,000',
    });
    expect(result.fieldErrors.find((e: { field: string }) => e.field === 'applicationRef').code).toBe('TOO_LONG');
    expect(result.message).toContain('annualIncome');
  });

  it.each([
    ['a string where a Float goes', 'annualIncome', { ...goodApplication, annualIncome: 'lots' }],
    ['a missing required field', 'creditScore', (({ creditScore: _, ...rest }) => rest)(goodApplication)],
    ['an unknown enum value', 'loanPurpose', { ...goodApplication, loanPurpose: 'YACHT' }],
    ['a float where an Int goes', 'creditScore', { ...goodApplication, creditScore: 700.5 }],
  ])('answers %s with HTTP 400 and a GraphQL error naming the field', async (_, field, input) => {
    const { status, headers, json } = await post(app, { query: SCORE_ONE, variables: { input } });
    expect(status).toBe(400);
    expect(headers.get('content-type')).toContain(GRAPHQL_RESPONSE);
    expect(json.data).toBeUndefined();
    expect(json.errors[0].message).toContain(field);
  });
});

describe('scoreApplications', () => {
  it('keeps input order and fails an invalid item alone', async () => {
    const inputs = [goodApplication, { ...riskyApplication, creditScore: 900 }, riskyApplication];
    const { json } = await post(app, { query: SCORE_MANY, variables: { inputs } });
    const results = json.data.scoreApplications;
    expect(results.map((r: { __typename: string }) => r.__typename)).toEqual([
      'Decision',
      'InvalidApplication',
      'Decision',
    ]);
    expect(results[0].applicationRef).toBe('good-1');
    expect(results[2].applicationRef).toBe('risky-1');
    expect(results[1].fieldErrors).toEqual([
      { field: 'creditScore', code: 'OUT_OF_RANGE', message: 'creditScore must be an integer at least 300 and at most 850' },
    ]);
  });

  it('scores each item as the single mutation would', async () => {
    const inputs = applications(20);
    const bulk = (await post(app, { query: SCORE_MANY, variables: { inputs } })).json.data.scoreApplications;
    for (const [i, input] of inputs.entries()) {
      expect(bulk[i].applicationRef).toBe(input.applicationRef);
      expect(bulk[i].probabilityOfDefault).toBeCloseTo(await directProbability(input), 5);
    }
  });

  it('refuses a request over the cap with BATCH_TOO_LARGE (413) before anything is scored', async () => {
    const runs = app.state.model!.runCount;
    const { status, json } = await post(app, { query: SCORE_MANY, variables: { inputs: applications(251) } });
    expect(status).toBe(413);
    expect(json.data).toBeUndefined();
    expect(app.state.model!.runCount).toBe(runs);
    expect(json.errors[0].extensions.code).toBe('BATCH_TOO_LARGE');
    expect(json.errors[0].message).toContain('251');
    expect(json.errors[0].message).toContain('250');
  });
});

describe('batching end to end', () => {
  it('runs the model once for a 200-item scoreApplications', async () => {
    const before = app.state.model!.runCount;
    const { json } = await post(app, { query: SCORE_MANY, variables: { inputs: applications(200) } });
    expect(json.data.scoreApplications).toHaveLength(200);
    expect(app.state.model!.runCount - before).toBe(1);
  });

  it('runs the model fewer times than there are concurrent requests', async () => {
    const before = app.state.model!.runCount;
    const responses = await Promise.all(
      applications(10).map((input) => post(app, { query: SCORE_ONE, variables: { input } })),
    );
    for (const r of responses) expect(r.json.data.scoreApplication.__typename).toBe('Decision');
    expect(app.state.model!.runCount - before).toBeLessThan(10);
  });

  it('runs the model once for a 5-operation HTTP batch', async () => {
    const before = app.state.model!.runCount;
    const batch = applications(5).map((input) => ({ query: SCORE_ONE, variables: { input } }));
    const { status, json } = await post(app, batch);
    expect(status).toBe(200);
    expect(json).toHaveLength(5);
    expect(json.map((r: { data: { scoreApplication: { applicationRef: string } } }) => r.data.scoreApplication.applicationRef)).toEqual(
      ['app-0', 'app-1', 'app-2', 'app-3', 'app-4'],
    );
    expect(app.state.model!.runCount - before).toBe(1);
  });

  it('refuses an HTTP batch over the limit', async () => {
    const batch = applications(21).map((input) => ({ query: SCORE_ONE, variables: { input } }));
    const { status, text } = await post(app, batch);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(text).toMatch(/batch/i);
  });
});

describe('modelInfo', () => {
  it('describes the served model', async () => {
    const { createHash } = await import('node:crypto');
    const { readFileSync } = await import('node:fs');
    const { json } = await post(app, {
      query: `{ modelInfo { name version sha256 createdAt trainingData { synthetic description }
        features { name description } thresholds { approve decline }
        metrics { auc ks brier oracleAuc trainingRows testRows }
        runtime { onnxruntimeVersion intraOpNumThreads } batching { maxBatchSize windowMs } } }`,
    });
    const info = json.data.modelInfo;
    const manifest = app.state.model!.manifest;
    const onnxBytes = readFileSync(`${app.config.model.dir}/${manifest.onnxFile}`);
    expect(info.sha256).toBe(createHash('sha256').update(onnxBytes).digest('hex'));
    expect(info.name).toBe(manifest.name);
    expect(info.version).toBe(manifest.version);
    expect(info.trainingData.synthetic).toBe(true);
    expect(info.trainingData.description).toMatch(/synthetic/i);
    expect(info.features.map((f: { name: string }) => f.name)).toEqual(manifest.features.map((f) => f.name));
    expect(info.features.every((f: { description: string }) => f.description.length > 0)).toBe(true);
    expect(info.thresholds).toEqual(manifest.thresholds);
    expect(info.metrics.auc).toBeGreaterThan(0.6);
    expect(info.metrics.oracleAuc).toBeGreaterThanOrEqual(info.metrics.auc - 0.01);
    expect(info.metrics.testRows).toBeGreaterThan(0);
    expect(info.runtime.onnxruntimeVersion).toMatch(/^1\.30\./);
    expect(info.runtime.intraOpNumThreads).toBe(1);
    expect(info.batching).toEqual({ maxBatchSize: 1024, windowMs: 1 });
  });
});

describe('thresholds from configuration', () => {
  it('overrides the manifest', async () => {
    const strict = await startTestApp({ APPROVE_THRESHOLD: '0.000001', DECLINE_THRESHOLD: '0.000002' });
    try {
      const { json } = await post(strict, { query: SCORE_ONE, variables: { input: goodApplication } });
      expect(json.data.scoreApplication.outcome).toBe('DECLINE');
      expect(json.data.scoreApplication.reasons.length).toBeGreaterThan(0);
      const info = await post(strict, { query: '{ modelInfo { thresholds { approve decline } } }' });
      expect(info.json.data.modelInfo.thresholds).toEqual({ approve: 0.000001, decline: 0.000002 });
    } finally {
      await strict.close();
    }
  });
});

describe('health and readiness', () => {
  it('is live and ready once the model is warm; draining turns it unready, then refusing', async () => {
    expect((await app.yoga.fetch('http://yoga/health')).status).toBe(200);
    expect((await app.yoga.fetch('http://yoga/ready')).status).toBe(200);
    app.state.draining = true;
    try {
      expect((await app.yoga.fetch('http://yoga/ready')).status).toBe(503);
      const served = await post(app, { query: SCORE_ONE, variables: { input: goodApplication } });
      expect(served.json.data.scoreApplication.__typename).toBe('Decision');
      expect(served.headers.get('connection')).toBe('close');
      app.state.refusing = true;
      const refused = await post(app, { query: SCORE_ONE, variables: { input: goodApplication } });
      expect(refused.status).toBe(503);
      expect(refused.json.errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      app.state.draining = false;
      app.state.refusing = false;
    }
  });

  it('answers 503 to GraphQL until the model is loaded', async () => {
    const { createApp } = await import('../src/app.js');
    const { createLogger } = await import('../src/logger.js');
    const cold = createApp(app.config, createLogger('silent'));
    try {
      expect((await cold.yoga.fetch('http://yoga/ready')).status).toBe(503);
      expect((await cold.yoga.fetch('http://yoga/health')).status).toBe(200);
      const refused = await post(cold as unknown as TestApp, { query: SCORE_ONE, variables: { input: goodApplication } });
      expect(refused.status).toBe(503);
      expect(refused.json.errors[0].message).toMatch(/loading/);
    } finally {
      await cold.close();
    }
  });
});
