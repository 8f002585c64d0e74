import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoanApplication } from '../src/model/application.js';
import { createScoringBatcher, createScoringLoader, DEFAULT_BATCHER_OPTIONS } from '../src/model/batcher.js';
import { ScoringError, ScoringModel, type ScoredApplication } from '../src/model/scoring-model.js';
import { LINEAR_SPEC, linearLogit, removeTempDirs, sigmoid, writeLinearModel } from './fixtures/models.js';
import { applications, goodApplication, riskyApplication } from './helpers/applications.js';

let model: ScoringModel;
beforeAll(async () => {
  model = await ScoringModel.create(await writeLinearModel());
});
afterAll(async () => {
  await model.release();
  await removeTempDirs();
});

/** The linear fixture's P(default) for an application, computed independently of the model. */
function expectedProbability(a: LoanApplication): number {
  const x = LINEAR_SPEC.features.map(({ name }) => {
    switch (name) {
      case 'creditScore':
        return a.creditScore;
      case 'debtToIncome':
        return (a.monthlyDebt * 12) / a.annualIncome;
      case 'loanPurpose=BUSINESS':
        return a.loanPurpose === 'BUSINESS' ? 1 : 0;
      case 'delinquencies2y':
        return a.delinquencies2y;
      case 'homeOwnership=RENT':
        return a.homeOwnership === 'RENT' ? 1 : 0;
      case 'annualIncome':
        return a.annualIncome;
      case 'loanToIncome':
        return a.loanAmount / a.annualIncome;
      default:
        throw new Error(`no expectation for ${name}`);
    }
  });
  return sigmoid(linearLogit(LINEAR_SPEC, x));
}

const scored = (r: ScoredApplication | Error): ScoredApplication => {
  if (r instanceof Error) throw r;
  return r;
};

describe('createScoringBatcher', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_BATCHER_OPTIONS).toEqual({ maxBatchSize: 1024, windowMs: 1 });
  });

  it('rejects nonsensical options', () => {
    expect(() => createScoringBatcher(() => model, { maxBatchSize: 0 })).toThrow(/maxBatchSize must be a positive integer/);
    expect(() => createScoringBatcher(() => model, { maxBatchSize: 2.5 })).toThrow(RangeError);
    expect(() => createScoringBatcher(() => model, { windowMs: -1 })).toThrow(/windowMs must be a finite number/);
  });

  it('scores N concurrent loads (loadMany) in exactly one session.run, in key order', async () => {
    const { loader, stats } = createScoringBatcher(() => model, DEFAULT_BATCHER_OPTIONS);
    const apps = applications(50);
    const before = model.runCount;
    const results = await loader.loadMany(apps);
    expect(model.runCount - before).toBe(1);
    expect(stats).toMatchObject({ batches: 1, applications: 50, lastBatchSize: 50, largestBatchSize: 50, failedApplications: 0 });
    expect(results).toHaveLength(50);
    results.forEach((r, i) => {
      const s = scored(r);
      expect(s.probabilityOfDefault).toBeCloseTo(expectedProbability(apps[i]), 5);
      expect(s.impacts).toHaveLength(LINEAR_SPEC.features.length);
      expect(s.model).toBe(model);
    });
    // the probabilities differ, so a shuffled order would have failed above
    expect(new Set(results.map((r) => scored(r).probabilityOfDefault.toFixed(6))).size).toBeGreaterThan(10);
  });

  it('collects separate load() calls made across awaits within the window into one batch', async () => {
    const { loader, stats } = createScoringBatcher(() => model, { windowMs: 20 });
    const before = model.runCount;
    const first = loader.load(riskyApplication);
    await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    const second = loader.load(goodApplication);
    const [a, b] = await Promise.all([first, second]);
    expect(model.runCount - before).toBe(1);
    expect(stats.batches).toBe(1);
    expect(a.probabilityOfDefault).toBeCloseTo(expectedProbability(riskyApplication), 5);
    expect(b.probabilityOfDefault).toBeCloseTo(expectedProbability(goodApplication), 5);
  });

  it('with windowMs 0 batches everything loaded in the same turn of the event loop', async () => {
    const { loader, stats } = createScoringBatcher(() => model, { windowMs: 0 });
    const before = model.runCount;
    const results = await Promise.all(applications(10).map((a) => loader.load(a)));
    expect(results).toHaveLength(10);
    expect(model.runCount - before).toBe(1);
    expect(stats.batches).toBe(1);
  });

  it("leaves unscored the loads whose signal aborted before their batch ran; the others are scored in one run", async () => {
    const { loader, stats } = createScoringBatcher(() => model, { windowMs: 0 });
    const expired = new AbortController();
    const live = new AbortController();
    const before = model.runCount;
    const apps = applications(6);
    const loads = apps.map((a, i) => loader.load(a, i % 2 === 0 ? expired.signal : live.signal));
    expired.abort(new Error('deadline'));
    const settled = await Promise.allSettled(loads);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((settled[0] as PromiseRejectedResult).reason.message).toBe('deadline');
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') expect(r.value.probabilityOfDefault).toBeCloseTo(expectedProbability(apps[i]), 5);
    });
    expect(model.runCount - before).toBe(1);
    expect(stats).toMatchObject({ batches: 1, applications: 3 });
    expect(loader.pending).toBe(0);
  });

  it('refuses a load whose signal has already aborted, and runs nothing when a whole batch expired', async () => {
    const { loader, stats } = createScoringBatcher(() => model, { windowMs: 0 });
    const before = model.runCount;
    await expect(loader.load(goodApplication, AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
    const expired = new AbortController();
    const loads = applications(3).map((a) => loader.load(a, expired.signal));
    expired.abort(new Error('deadline'));
    expect((await Promise.allSettled(loads)).every((r) => r.status === 'rejected')).toBe(true);
    expect(model.runCount).toBe(before);
    expect(stats.batches).toBe(0);
  });

  it('concatenates the requests of one window into one run and gives each its own results, in order', async () => {
    const { loader, stats } = createScoringBatcher(() => model, { windowMs: 0, maxBatchSize: 5 });
    const first = applications(3);
    const second = applications(9).slice(3);
    const before = model.runCount;
    const [a, b, c] = await Promise.all([loader.loadBatch(first), loader.loadBatch(second), loader.load(riskyApplication)]);
    // 3 + 6 + 1 = 10 applications in runs of at most 5
    expect(model.runCount - before).toBe(2);
    expect(stats).toMatchObject({ batches: 2, applications: 10, largestBatchSize: 5 });
    a.forEach((r, i) => expect(scored(r).probabilityOfDefault).toBeCloseTo(expectedProbability(first[i]), 5));
    b.forEach((r, i) => expect(scored(r).probabilityOfDefault).toBeCloseTo(expectedProbability(second[i]), 5));
    expect(b).toHaveLength(6);
    expect(c.probabilityOfDefault).toBeCloseTo(expectedProbability(riskyApplication), 5);
    expect(loader.pending).toBe(0);
  });

  it('splits at maxBatchSize', async () => {
    const { loader, stats } = createScoringBatcher(() => model, { maxBatchSize: 16, windowMs: 1 });
    const apps = applications(40);
    const before = model.runCount;
    const results = await loader.loadMany(apps);
    expect(model.runCount - before).toBe(3);
    expect(stats).toMatchObject({ batches: 3, applications: 40, largestBatchSize: 16, lastBatchSize: 8 });
    results.forEach((r, i) => expect(scored(r).probabilityOfDefault).toBeCloseTo(expectedProbability(apps[i]), 5));
  });

  it('gives one bad application its own error and still scores the others, in one run', async () => {
    const { loader, stats } = createScoringBatcher(() => model, DEFAULT_BATCHER_OPTIONS);
    const apps = applications(5);
    // not a validated application: an income of 0 makes debtToIncome and loanToIncome infinite
    apps[2] = { ...apps[2], annualIncome: 0 };
    const before = model.runCount;
    const results = await loader.loadMany(apps);
    expect(model.runCount - before).toBe(1);
    expect(results[2]).toBeInstanceOf(ScoringError);
    expect((results[2] as ScoringError).code).toBe('NON_FINITE_FEATURE');
    expect((results[2] as ScoringError).message).toBe('feature "debtToIncome" encodes to Infinity, which is not a finite float32');
    for (const i of [0, 1, 3, 4]) expect(scored(results[i]).probabilityOfDefault).toBeCloseTo(expectedProbability(apps[i]), 5);
    expect(stats.failedApplications).toBe(1);

    // load() of the bad one rejects, alongside a good one in the same batch
    const [bad, good] = await Promise.allSettled([loader.load(apps[2]), loader.load(apps[0])]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(ScoringError);
    expect(good.status).toBe('fulfilled');
  });

  it('gives every key the error when the whole run fails', async () => {
    const released = await ScoringModel.create(await writeLinearModel());
    await released.release();
    const { loader, stats } = createScoringBatcher(() => released, DEFAULT_BATCHER_OPTIONS);
    const results = await loader.loadMany(applications(4));
    expect(results).toHaveLength(4);
    for (const r of results) {
      expect(r).toBeInstanceOf(Error);
      expect((r as Error).message).toMatch(/has been released/);
    }
    expect(stats.failedApplications).toBe(4);

    const noModel = createScoringLoader(() => {
      throw new Error('no model loaded');
    }, DEFAULT_BATCHER_OPTIONS);
    const settled = await Promise.allSettled([noModel.load(goodApplication), noModel.load(riskyApplication)]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect((settled[0] as PromiseRejectedResult).reason.message).toBe('no model loaded');
  });

  it('does not run the model when every application of a batch fails to encode', async () => {
    const { loader, stats } = createScoringBatcher(() => model, DEFAULT_BATCHER_OPTIONS);
    const before = model.runCount;
    const results = await loader.loadMany([
      { ...goodApplication, annualIncome: 0 },
      { ...riskyApplication, annualIncome: Number.NaN },
    ]);
    expect(model.runCount - before).toBe(0);
    expect(results.map((r) => (r as ScoringError).code)).toEqual(['NON_FINITE_FEATURE', 'NON_FINITE_FEATURE']);
    expect((results[1] as ScoringError).message).toBe('feature "debtToIncome" encodes to NaN, which is not a finite float32');
    expect(stats.failedApplications).toBe(2);
  });

  it('asks for the model once per batch, so a hot swap lets the in-flight batch finish on the old model', async () => {
    const oldModel = await ScoringModel.create(await writeLinearModel());
    const newModel = await ScoringModel.create(await writeLinearModel(LINEAR_SPEC, { version: '0.0.2' }));
    let current = oldModel;
    let calls = 0;
    const { loader, stats } = createScoringBatcher(
      () => {
        calls++;
        return current;
      },
      { windowMs: 0 },
    );
    const first = loader.loadMany(applications(8));
    // wait until the first batch has been dispatched (getModel called), then swap and release the old model
    while (stats.batches === 0) await new Promise((resolve) => setImmediate(resolve));
    current = newModel;
    const releasedOld = oldModel.release();
    const second = loader.loadMany(applications(3));
    const [a, b] = await Promise.all([first, second, releasedOld]);
    expect(calls).toBe(2);
    expect(a.every((r) => scored(r).model === oldModel)).toBe(true);
    expect(b.every((r) => scored(r).model === newModel)).toBe(true);
    expect(scored(b[0]).model.manifest.version).toBe('0.0.2');
    await newModel.release();
  });

  it('does not cache: loading the same application twice scores it twice', async () => {
    const { loader, stats } = createScoringBatcher(() => model, DEFAULT_BATCHER_OPTIONS);
    await loader.load(goodApplication);
    await loader.load(goodApplication);
    expect(stats.batches).toBe(2);
    expect(stats.applications).toBe(2);
  });
});
