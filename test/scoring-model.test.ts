import { createHash } from 'node:crypto';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import type { LoanApplication } from '../src/model/application.js';
import { encode, FEATURE_CATALOGUE } from '../src/model/features.js';
import {
  ModelLoadError,
  PartialScoringError,
  ScoringError,
  ScoringModel,
  type ScoredApplication,
  type ScoringModelOptions,
} from '../src/model/scoring-model.js';
import {
  LINEAR_SPEC,
  linearLogit,
  makeTempDir,
  linearOnnx,
  manifestFor,
  REFUSAL_FIXTURES,
  removeTempDirs,
  sigmoid,
  sqrtOnnx,
  writeLinearModel,
  writeModelDir,
} from './fixtures/models.js';
import { goodApplication, riskyApplication } from './helpers/applications.js';

afterAll(removeTempDirs);

/** LINEAR_SPEC's features of riskyApplication, by hand, in manifest order. */
const RISKY_ROW = [
  560, // creditScore
  (1_100 * 12) / 28_000, // debtToIncome
  1, // loanPurpose=BUSINESS
  4, // delinquencies2y
  1, // homeOwnership=RENT
  28_000, // annualIncome
  30_000 / 28_000, // loanToIncome
];
const GOOD_ROW = [800, (500 * 12) / 120_000, 0, 0, 0, 120_000, 10_000 / 120_000];

async function withModel<T>(dir: string, fn: (model: ScoringModel) => Promise<T>, options?: ScoringModelOptions) {
  const model = await ScoringModel.create(dir, options);
  try {
    return await fn(model);
  } finally {
    await model.release();
  }
}

describe('encoding', () => {
  it('puts columns in manifest order, one-hot encodes enums and computes ratios', () => {
    const features = LINEAR_SPEC.features.map((f) => FEATURE_CATALOGUE.find((c) => c.name === f.name)!);
    const matrix = encode([riskyApplication, goodApplication], features);
    expect(matrix).toHaveLength(14);
    RISKY_ROW.forEach((v, j) => expect(matrix[j]).toBeCloseTo(v, 5));
    GOOD_ROW.forEach((v, j) => expect(matrix[7 + j]).toBeCloseTo(v, 5));
  });

  it('one-hot columns hold exactly one 1 per enum', () => {
    const oneHots = FEATURE_CATALOGUE.filter((f) => f.name.startsWith('homeOwnership=') || f.name.startsWith('loanPurpose='));
    const row = encode([riskyApplication], oneHots);
    expect(Array.from(row).reduce((a, b) => a + b, 0)).toBe(2);
    expect(row[oneHots.findIndex((f) => f.name === 'homeOwnership=RENT')]).toBe(1);
    expect(row[oneHots.findIndex((f) => f.name === 'loanPurpose=BUSINESS')]).toBe(1);
  });

  it('the model sees the features in manifest order (a reordered manifest changes nothing)', async () => {
    const order = [6, 2, 0, 5, 1, 4, 3];
    const reordered = {
      features: order.map((j) => LINEAR_SPEC.features[j]),
      weights: order.map((j) => LINEAR_SPEC.weights[j]),
      bias: LINEAR_SPEC.bias,
    };
    const expected = sigmoid(linearLogit(LINEAR_SPEC, RISKY_ROW));
    for (const spec of [LINEAR_SPEC, reordered]) {
      await withModel(await writeLinearModel(spec), async (model) => {
        expect(model.features.map((f) => f.name)).toEqual(spec.features.map((f) => f.name));
        const [scored] = await model.score([riskyApplication]);
        expect(scored.probabilityOfDefault).toBeCloseTo(expected, 6);
        const expectedValues = spec === LINEAR_SPEC ? RISKY_ROW : order.map((j) => RISKY_ROW[j]);
        Array.from(encode([riskyApplication], model.features)).forEach((value, j) => expect(value).toBeCloseTo(expectedValues[j], 5));
        // one explanation per field, in the order of the fields' first columns
        expect(scored.impacts.map((i) => i.field)).toEqual(spec.features.map((f) => f.name.split('=')[0]));
      });
    }
  });
});

describe('ScoringModel.create', () => {
  it('loads a model and reports its identity', async () => {
    const dir = await writeLinearModel();
    await withModel(dir, async (model) => {
      expect(model.dir).toBe(dir);
      expect(model.manifest.name).toBe('fixture');
      expect(model.manifest.onnxFile).toBe('model.onnx');
      const bytes = await readFile(path.join(dir, 'model.onnx'));
      expect(model.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(model.intraOpNumThreads).toBe(1);
      expect(model.onnxruntimeVersion).toBe(ort.env.versions.node);
      expect(model.onnxruntimeVersion).toMatch(/^1\.30\./);
      expect(model.runCount).toBe(1); // the warm-up run
    });
    await withModel(dir, async (model) => expect(model.intraOpNumThreads).toBe(2), { intraOpNumThreads: 2 });
  });

  it('uses the manifest description over the catalogue one', async () => {
    const manifest = manifestFor(LINEAR_SPEC.features);
    (manifest.features[0] as { description?: string }).description = 'Bureau score at application';
    const dir = await writeModelDir(manifest, linearOnnx());
    await withModel(dir, async (model) => {
      expect(model.features[0].description).toBe('Bureau score at application');
      expect(model.features[1].description).toBe(FEATURE_CATALOGUE.find((f) => f.name === 'debtToIncome')!.description);
    });
  });

  it('rejects a bad thread count', async () => {
    await expect(ScoringModel.create(await writeLinearModel(), { intraOpNumThreads: 0 })).rejects.toThrow(RangeError);
  });

  describe('refuses', () => {
    for (const fixture of REFUSAL_FIXTURES) {
      it(fixture.problem, async () => {
        const dir = await fixture.write();
        const error = await ScoringModel.create(dir).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ModelLoadError);
        const loadError = error as ModelLoadError;
        expect(loadError.file).toBe(path.join(dir, fixture.file));
        expect(loadError.message.startsWith(`${path.join(dir, fixture.file)} `)).toBe(true);
        expect(loadError.message).toMatch(fixture.message);
        expect(loadError.message.endsWith('.')).toBe(true);
        expect(loadError.message).not.toContain('\n');
      });
    }
  });
});

describe('files stay inside the model directory', () => {
  /** The ModelLoadError `create` rejects with. */
  const refusal = (dir: string, confineTo?: string) =>
    ScoringModel.create(dir, { confineTo }).then(
      () => expect.unreachable('the model loaded'),
      (error: unknown) => {
        expect(error).toBeInstanceOf(ModelLoadError);
        return error as ModelLoadError;
      },
    );

  it.each(['../../../../etc/shadow', '/etc/shadow', 'sub/../../model.onnx', '.'])('refuses onnxFile %j', async (onnxFile) => {
    const dir = await writeModelDir(manifestFor(LINEAR_SPEC.features, { onnxFile }), undefined);
    const error = await refusal(dir);
    expect(error.file).toBe(path.join(dir, 'model.json'));
    expect(error.message).toContain('onnxFile: must name a file inside the model directory');
  });

  it('takes an onnxFile in a subdirectory', async () => {
    const dir = await makeTempDir();
    await mkdir(path.join(dir, 'onnx'));
    await writeModelDir(manifestFor(LINEAR_SPEC.features, { onnxFile: 'onnx/model.onnx' }), linearOnnx(), dir);
    await withModel(dir, async (model) => expect(model.manifest.onnxFile).toBe('onnx/model.onnx'));
  });

  it('refuses a model.json or ONNX file symlinked out of the directory, even to a valid model', async () => {
    const valid = await writeLinearModel();
    const onnxLink = await writeModelDir(manifestFor(LINEAR_SPEC.features), undefined);
    await symlink(path.join(valid, 'model.onnx'), path.join(onnxLink, 'model.onnx'));
    const error = await refusal(onnxLink);
    expect(error.file).toBe(path.join(onnxLink, 'model.onnx'));
    expect(error.message).toMatch(/model\.onnx resolves to .*, which is not inside its model directory /);

    const manifestLink = await makeTempDir();
    await symlink(path.join(valid, 'model.json'), path.join(manifestLink, 'model.json'));
    await symlink(path.join(valid, 'model.onnx'), path.join(manifestLink, 'model.onnx'));
    expect((await refusal(manifestLink)).file).toBe(path.join(manifestLink, 'model.json'));
  });

  it('with confineTo, loads a directory inside it (through a symlink too) and refuses one outside', async () => {
    const root = await makeTempDir();
    const inside = await writeLinearModel();
    const dir = path.join(root, 'model');
    await mkdir(dir);
    await writeModelDir(manifestFor(LINEAR_SPEC.features), linearOnnx(), dir);
    await withModel(dir, async (model) => expect(model.dir).toBe(dir), { confineTo: root });
    await symlink(dir, path.join(root, 'current'));
    await withModel(path.join(root, 'current'), async (model) => expect(model.manifest.name).toBe('fixture'), { confineTo: root });

    await symlink(inside, path.join(root, 'escape'));
    const escaped = await refusal(path.join(root, 'escape'), root);
    expect(escaped.file).toBe(path.join(root, 'escape'));
    expect(escaped.message).toMatch(/escape resolves to .*, which is not inside /);
    expect((await refusal(inside, root)).message).toMatch(/which is not inside/);
    expect((await refusal(root, root)).message).toMatch(/which is not inside/);
    expect((await refusal(path.join(root, 'missing'), root)).message).toMatch(/missing cannot be read \(ENOENT\)\.$/);
    expect((await refusal(dir, path.join(root, 'no-such-root'))).message).toMatch(/no-such-root \(the directory models must be in\) cannot be read/);
  });
});

describe('the probability of default', () => {
  const pRisky = sigmoid(linearLogit(LINEAR_SPEC, RISKY_ROW));
  const pGood = sigmoid(linearLogit(LINEAR_SPEC, GOOD_ROW));

  it('is well apart for the two fixture applications (so the cases below can tell p from 1 − p)', () => {
    expect(pRisky).toBeGreaterThan(0.9);
    expect(pGood).toBeLessThan(0.1);
  });

  const cases: Array<{ name: string; shape: 'N,2' | 'N,1' | 'N'; column: number; meaning: 'default' | 'approval'; expected: (p: number) => number }> = [
    { name: '[N,2] column 1 meaning default', shape: 'N,2', column: 1, meaning: 'default', expected: (p) => p },
    { name: '[N,2] column 0 meaning approval', shape: 'N,2', column: 0, meaning: 'approval', expected: (p) => p },
    { name: '[N,2] column 0 meaning default', shape: 'N,2', column: 0, meaning: 'default', expected: (p) => 1 - p },
    { name: '[N,2] column 1 meaning approval', shape: 'N,2', column: 1, meaning: 'approval', expected: (p) => 1 - p },
    { name: '[N,1] column 0 meaning default', shape: 'N,1', column: 0, meaning: 'default', expected: (p) => p },
    { name: '[N,1] column 0 meaning approval', shape: 'N,1', column: 0, meaning: 'approval', expected: (p) => 1 - p },
    { name: '[N] column 0 meaning default', shape: 'N', column: 0, meaning: 'default', expected: (p) => p },
  ];
  for (const c of cases) {
    it(`reads ${c.name}`, async () => {
      const dir = await writeLinearModel(LINEAR_SPEC, { output: { name: 'probabilities', column: c.column, meaning: c.meaning } }, c.shape);
      await withModel(dir, async (model) => {
        const scored = await model.score([riskyApplication, goodApplication]);
        expect(scored[0].probabilityOfDefault).toBeCloseTo(c.expected(pRisky), 6);
        expect(scored[1].probabilityOfDefault).toBeCloseTo(c.expected(pGood), 6);
        const predicted = await model.predict(new Float32Array([...RISKY_ROW, ...GOOD_ROW]), 2);
        expect(predicted[0]).toBeCloseTo(c.expected(pRisky), 6);
        expect(predicted[1]).toBeCloseTo(c.expected(pGood), 6);
      });
    });
  }

  describe('with an output outside [0, 1] (sqrt(revolvingUtilization − 0.25))', () => {
    const features = [
      { name: 'revolvingUtilization', reference: 0.5 },
      { name: 'creditScore', reference: 700 },
    ];
    const app = (revolvingUtilization: number): LoanApplication => ({ ...goodApplication, revolvingUtilization });

    it('clamps to [0, 1] and gives NaN rows to predict as NaN', async () => {
      const dir = await writeModelDir(manifestFor(features, { output: { name: 'probabilities', column: 0, meaning: 'default' } }), sqrtOnnx(2, 0.25));
      await withModel(dir, async (model) => {
        const p = await model.predict(new Float32Array([0.5, 700, 1.69, 700, 0.2, 700, 0.25, 700]), 4);
        expect(p[0]).toBeCloseTo(0.5, 6);
        expect(p[1]).toBe(1); // sqrt(1.44) = 1.2, clamped
        expect(p[2]).toBeNaN();
        expect(p[3]).toBe(0);
      });
    });

    it('approval meaning: 1 − p, clamped', async () => {
      const dir = await writeModelDir(manifestFor(features, { output: { name: 'probabilities', column: 0, meaning: 'approval' } }), sqrtOnnx(2, 0.25));
      await withModel(dir, async (model) => {
        const p = await model.predict(new Float32Array([0.5, 700, 1.69, 700, 0.34, 700]), 3);
        expect(p[0]).toBeCloseTo(0.5, 6);
        expect(p[1]).toBe(0); // 1 − 1.2 clamped
        expect(p[2]).toBeCloseTo(0.7, 6);
      });
    });

    it('makes a NaN probability an error of that application only', async () => {
      const dir = await writeModelDir(manifestFor(features, { output: { name: 'probabilities', column: 0, meaning: 'default' } }), sqrtOnnx(2, 0.25));
      await withModel(dir, async (model) => {
        const before = model.runCount;
        const error = await model.score([app(0.5), app(0.2), app(1.69)]).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(model.runCount - before).toBe(1);
        expect(error).toBeInstanceOf(PartialScoringError);
        const results = (error as PartialScoringError).results;
        expect(results).toHaveLength(3);
        expect((results[0] as ScoredApplication).probabilityOfDefault).toBeCloseTo(0.5, 6);
        expect(results[1]).toBeInstanceOf(ScoringError);
        expect((results[1] as ScoringError).code).toBe('NAN_PROBABILITY');
        expect((results[1] as ScoringError).message).toBe('the model returned NaN as the probability of default');
        expect((results[2] as ScoredApplication).probabilityOfDefault).toBe(1);
        expect((error as Error).message).toMatch(/^1 of 3 application\(s\) could not be scored/);
      });
    });

    it('makes a NaN explanation row an error of that application too, naming the feature', async () => {
      // p = sqrt(creditScore − 650); the creditScore counterfactual sets it to 600, which gives NaN
      const dir = await writeModelDir(
        manifestFor([{ name: 'creditScore', reference: 600 }, { name: 'revolvingUtilization', reference: 0.5 }], {
          output: { name: 'probabilities', column: 0, meaning: 'default' },
        }),
        sqrtOnnx(2, 650),
      );
      await withModel(dir, async (model) => {
        const error = await model.score([{ ...goodApplication, creditScore: 650.25 }]).then(
          () => undefined,
          (e: unknown) => e,
        );
        const [result] = (error as PartialScoringError).results;
        expect(result).toBeInstanceOf(ScoringError);
        expect((result as ScoringError).code).toBe('NAN_PROBABILITY');
        expect((result as ScoringError).message).toBe(
          'the model returned NaN for the explanation row that sets "creditScore" to its reference',
        );
      });
    });
  });
});

describe('predict and release', () => {
  it('refuses a matrix of the wrong size', async () => {
    await withModel(await writeLinearModel(), async (model) => {
      await expect(model.predict(new Float32Array(13), 2)).rejects.toThrow(/predict needs a \[rows, 7\] matrix: got 13 values for 2 row\(s\)/);
      await expect(model.predict(new Float32Array(0), 0)).resolves.toHaveLength(0);
    });
  });

  it('counts one session.run per predict or score call', async () => {
    await withModel(await writeLinearModel(), async (model) => {
      const before = model.runCount;
      await model.predict(new Float32Array([...RISKY_ROW, ...GOOD_ROW]), 2);
      await model.score([riskyApplication, goodApplication, goodApplication]);
      await model.score([]);
      expect(model.runCount - before).toBe(2);
    });
  });

  it('lets runs in flight finish, then refuses new ones', async () => {
    const model = await ScoringModel.create(await writeLinearModel());
    const inFlight = model.score([riskyApplication]);
    const released = model.release();
    const [scored] = await inFlight;
    expect(scored.probabilityOfDefault).toBeCloseTo(sigmoid(linearLogit(LINEAR_SPEC, RISKY_ROW)), 6);
    expect(scored.model).toBe(model);
    await released;
    await expect(model.release()).resolves.toBeUndefined();
    await expect(model.score([riskyApplication])).rejects.toThrow(/model fixture@0\.0\.1 has been released/);
  });
});
