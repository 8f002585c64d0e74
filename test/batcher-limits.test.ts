import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScoringBatcher, ServiceOverloadedError, type BatchReport } from '../src/model/batcher.js';
import { ScoringModel } from '../src/model/scoring-model.js';
import { removeTempDirs, writeLinearModel } from './fixtures/models.js';
import { applications } from './helpers/applications.js';

let model: ScoringModel;
beforeAll(async () => {
  model = await ScoringModel.create(await writeLinearModel());
});
afterAll(async () => {
  await model.release();
  await removeTempDirs();
});

describe('the bounded batcher queue (maxPending)', () => {
  it('admits maxPending applications and rejects the next ones at once with ServiceOverloadedError', async () => {
    const batches: BatchReport[] = [];
    const { loader, pending } = createScoringBatcher(() => model, { windowMs: 5, maxPending: 10, onBatch: (r) => batches.push(r) });
    const admitted = applications(10).map((a) => loader.load(a));
    expect(pending()).toBe(10);
    const refused = loader.load(applications(1)[0]);
    await expect(refused).rejects.toBeInstanceOf(ServiceOverloadedError);
    await expect(refused).rejects.toThrow(/queue is full \(10 applications/);
    // refused without waiting for the window or the run: when the refusal settles, no batch has run and the ten
    // admitted applications are all still queued
    expect(batches).toEqual([]);
    expect(pending()).toBe(10);
    const results = await Promise.all(admitted);
    expect(batches.map((b) => b.size)).toEqual([10]);
    expect(results).toHaveLength(10);
    expect(pending()).toBe(0);
    // room again once the queue drained
    await expect(loader.load(applications(1)[0])).resolves.toHaveProperty('probabilityOfDefault');
  });

  it('refuses a request over maxPending whole (nothing of it scored), and frees the slots of a load that fails', async () => {
    let fail = true;
    const { loader, pending, stats } = createScoringBatcher(
      () => {
        if (fail) throw new Error('no model');
        return model;
      },
      { windowMs: 0, maxPending: 3 },
    );
    await expect(loader.loadBatch(applications(5))).rejects.toBeInstanceOf(ServiceOverloadedError);
    expect(stats.applications).toBe(0);
    const failed = await loader.loadBatch(applications(3));
    expect(failed.every((r) => r instanceof Error && r.message === 'no model')).toBe(true);
    expect(pending()).toBe(0);
    fail = false;
    const again = await loader.loadBatch(applications(3));
    expect(again.every((r) => !(r instanceof Error))).toBe(true);
  });

  it('rejects a nonsensical maxPending', () => {
    expect(() => createScoringBatcher(() => model, { maxPending: 0 })).toThrow(/maxPending must be a positive integer/);
    expect(() => createScoringBatcher(() => model, { maxPending: 1.5 })).toThrow(RangeError);
  });
});

describe('onBatch', () => {
  it('reports size, queue wait, inference time and model version of every batch', async () => {
    const reports: BatchReport[] = [];
    const { loader } = createScoringBatcher(() => model, { windowMs: 20, maxBatchSize: 4, onBatch: (r) => reports.push(r) });
    await Promise.all(applications(6).map((a) => loader.load(a)));
    expect(reports.map((r) => r.size).sort()).toEqual([2, 4]);
    for (const r of reports) {
      expect(r.modelVersion).toBe(`${model.manifest.name}-${model.manifest.version}`);
      expect(r.queueWaitMs).toBeGreaterThanOrEqual(15);
      expect(r.inferenceMs).toBeGreaterThan(0);
      expect(r.failed).toBe(0);
    }
  });

  it('reports a failed run, and a throwing callback does not fail the batch', async () => {
    const reports: BatchReport[] = [];
    const failing = createScoringBatcher(
      () => {
        throw new Error('no model');
      },
      { windowMs: 0, onBatch: (r) => reports.push(r) },
    );
    await expect(failing.loader.load(applications(1)[0])).rejects.toThrow('no model');
    expect(reports).toEqual([expect.objectContaining({ size: 1, failed: 1, modelVersion: undefined })]);

    const throwing = createScoringBatcher(() => model, {
      windowMs: 0,
      onBatch: () => {
        throw new Error('metrics broke');
      },
    });
    await expect(throwing.loader.load(applications(1)[0])).resolves.toHaveProperty('probabilityOfDefault');
  });
});
