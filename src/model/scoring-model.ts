import { createHash } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { LoanApplication } from './application.js';
import {
  categoryOf,
  FEATURES_BY_NAME,
  isCategoricalField,
  resolveFeatures,
  type CatalogueFeature,
  type CategoricalField,
  type ExplainedField,
} from './features.js';
import { manifestSchema, type Manifest } from './manifest.js';
import { checkProfile, DriftMonitor, type DriftMonitorOptions } from './drift-monitor.js';

export interface ScoringModelOptions {
  /** @default 1 */
  intraOpNumThreads?: number;
  /**
   * A directory the model directory must lie inside once symlinks are resolved: for a directory named by a client.
   * Unset, the model directory may be anywhere (the operator's configuration). Either way, model.json and the ONNX
   * file must resolve inside the model directory.
   * @default undefined
   */
  confineTo?: string;
  /**
   * Counts the applications `score` sees into the manifest profile's bins (live drift, `model.monitor`); unset, no
   * monitor. @default undefined
   */
  monitor?: DriftMonitorOptions;
}

/**
 * How much one application field moved this application's risk. `impact` = P(default | x) − P(default | x with every
 * column of this field set to its manifest `reference`); > 0 means the field raised the risk. A categorical field is
 * explained as a whole, all its one-hot columns at once, and names only the category the applicant is in.
 */
export interface FieldImpact {
  field: ExplainedField;
  /** the applicant's own category, for a categorical field; undefined otherwise */
  category: string | undefined;
  impact: number;
}

export interface ScoredApplication {
  probabilityOfDefault: number;
  /** one per explained field, in `model.explainedFields` order */
  impacts: FieldImpact[];
  /** the model that scored it (a hot swap may have replaced the current one since) */
  model: ScoringModel;
  /** the challenger's probability for the same application, when the batcher ran one and it could score it */
  challenger?: ChallengerScore;
}

/** A second model's probability of default for an application the served model scored, from the same batch. */
export interface ChallengerScore {
  probabilityOfDefault: number;
  model: ScoringModel;
}

/** The columns one counterfactual row resets together. */
interface FieldGroup {
  field: ExplainedField;
  /** the field again when it is categorical (the result then names the applicant's category) */
  categorical: CategoricalField | undefined;
  /** indices into the model's columns */
  columns: readonly number[];
}

/** Groups columns by catalogue field, in the order each field first appears among the model's columns. */
function groupByField(features: readonly CatalogueFeature[]): FieldGroup[] {
  const groups = new Map<ExplainedField, number[]>();
  features.forEach((f, j) => {
    const columns = groups.get(f.field);
    if (columns === undefined) groups.set(f.field, [j]);
    else columns.push(j);
  });
  return [...groups].map(([field, columns]) => ({ field, categorical: isCategoricalField(field) ? field : undefined, columns }));
}

/** A model directory that cannot be served. The message names the file and the problem in one sentence. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    /** the file at fault (model.json or the ONNX file), as given */
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ScoringErrorCode = 'NON_FINITE_FEATURE' | 'ENCODING_FAILED' | 'NAN_PROBABILITY';

/** One application of a batch could not be scored; the others were. */
export class ScoringError extends Error {
  override name = 'ScoringError';
  constructor(
    readonly code: ScoringErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * `score` rejects with this when some (not necessarily all) applications of the batch failed: `results` holds,
 * in input order, a `ScoredApplication` for each that was scored and a `ScoringError` for each that was not.
 * A failure of the whole run (session error) rejects with that error instead.
 */
export class PartialScoringError extends Error {
  override name = 'PartialScoringError';
  constructor(readonly results: ReadonlyArray<ScoredApplication | ScoringError>) {
    const failures = results.filter((r): r is ScoringError => r instanceof ScoringError);
    super(
      `${failures.length} of ${results.length} application(s) could not be scored; the first: ${failures[0]?.message ?? 'none'}`,
    );
  }
}

interface RawOutput {
  data: Float32Array;
  /** elements per row of the output */
  stride: number;
}

const SESSION_OPTIONS_BASE = {
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
} as const satisfies ort.InferenceSession.SessionOptions;

function quoteList(names: readonly string[]): string {
  return names.length === 0 ? '(none)' : names.map((n) => `"${n}"`).join(', ');
}

function describeShape(shape: ReadonlyArray<number | string>): string {
  return `[${shape.join(', ')}]`;
}

/**
 * A loaded, checked model: one ONNX Runtime session plus its manifest. Immutable once created; a hot swap creates
 * a new instance and releases the old one (release waits for in-flight runs).
 */
export class ScoringModel {
  readonly dir: string;
  readonly manifest: Manifest;
  /** SHA-256 of the ONNX file's bytes, hex */
  readonly sha256: string;
  /** the model's features in manifest order (description overridden by the manifest's when it gives one) */
  readonly features: readonly CatalogueFeature[];
  /** what `score` explains, one counterfactual row each: the fields behind the features, in first-column order */
  readonly explainedFields: readonly ExplainedField[];
  readonly intraOpNumThreads: number;
  readonly onnxruntimeVersion: string;
  /** live drift of the applications this model scored (its own mutable counters), with `options.monitor` */
  readonly monitor: DriftMonitor | undefined;

  readonly #session: ort.InferenceSession;
  readonly #inputName: string;
  readonly #fetches: readonly string[];
  readonly #column: number;
  readonly #approval: boolean;
  /** the manifest references, float32, in manifest order */
  readonly #references: Float32Array;
  readonly #groups: readonly FieldGroup[];
  #runCount = 0;
  readonly #inflight = new Set<Promise<unknown>>();
  #releasing: Promise<void> | undefined;

  private constructor(
    dir: string,
    manifest: Manifest,
    sha256: string,
    features: readonly CatalogueFeature[],
    intraOpNumThreads: number,
    session: ort.InferenceSession,
    monitor?: DriftMonitorOptions,
  ) {
    this.dir = dir;
    this.manifest = manifest;
    this.sha256 = sha256;
    this.features = features;
    this.#groups = groupByField(features);
    this.explainedFields = this.#groups.map((g) => g.field);
    this.intraOpNumThreads = intraOpNumThreads;
    this.onnxruntimeVersion = ort.env.versions.node ?? ort.env.versions.common;
    this.#session = session;
    this.#inputName = manifest.input.name;
    this.#fetches = [manifest.output.name];
    this.#column = manifest.output.column;
    this.#approval = manifest.output.meaning === 'approval';
    this.#references = Float32Array.from(manifest.features, (f) => f.reference);
    this.monitor = monitor && new DriftMonitor(`${manifest.name}-${manifest.version}`, manifest.profile, features, monitor);
  }

  /**
   * Loads `<dir>/model.json` and `<dir>/<onnxFile>`, checks that the ONNX graph matches the manifest, and makes one
   * warm-up run. Any problem is one `ModelLoadError` naming the file and the problem. The files are read through
   * their real paths, which must lie inside the (real) model directory, itself inside `options.confineTo` when set.
   */
  static async create(dir: string, options: ScoringModelOptions = {}): Promise<ScoringModel> {
    const intraOpNumThreads = options.intraOpNumThreads ?? 1;
    if (!Number.isInteger(intraOpNumThreads) || intraOpNumThreads < 1) {
      throw new RangeError(`intraOpNumThreads must be a positive integer, got ${intraOpNumThreads}`);
    }

    const realDir = await realModelDir(dir, options.confineTo);
    const manifestFile = path.join(dir, 'model.json');
    const manifest = await readManifest(manifestFile, await realFileInside(manifestFile, realDir));
    const unknown = manifest.features.filter((f) => !FEATURES_BY_NAME.has(f.name)).map((f) => f.name);
    if (unknown.length > 0) {
      throw new ModelLoadError(
        manifestFile,
        `${manifestFile} lists feature${unknown.length > 1 ? 's' : ''} ${quoteList(unknown)} not in the feature catalogue.`,
      );
    }
    const features = resolveFeatures(manifest.features.map((f) => f.name));
    const seen = new Set<string>();
    for (const f of manifest.features) {
      if (seen.has(f.name)) throw new ModelLoadError(manifestFile, `${manifestFile} lists feature "${f.name}" more than once.`);
      seen.add(f.name);
    }
    if (!manifest.features.every((f) => Number.isFinite(Math.fround(f.reference)))) {
      const bad = manifest.features.find((f) => !Number.isFinite(Math.fround(f.reference)))!;
      throw new ModelLoadError(manifestFile, `${manifestFile} gives feature "${bad.name}" a reference that is not a finite float32.`);
    }
    const profileProblem = manifest.profile && checkProfile(manifest.profile, features);
    if (profileProblem !== undefined) throw new ModelLoadError(manifestFile, `${manifestFile} ${profileProblem}.`);
    const withDescriptions = features.map((f, j) => {
      const description = manifest.features[j].description;
      return description === undefined ? f : { ...f, description };
    });

    const onnxFile = path.join(dir, manifest.onnxFile);
    const realOnnxFile = await realFileInside(onnxFile, realDir);
    let bytes: Buffer;
    try {
      bytes = await readFile(realOnnxFile);
    } catch (error) {
      throw new ModelLoadError(onnxFile, `${onnxFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, {
        cause: error,
      });
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');

    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { ...SESSION_OPTIONS_BASE, intraOpNumThreads });
    } catch (error) {
      throw new ModelLoadError(onnxFile, `${onnxFile} is not a model ONNX Runtime can load: ${firstLine(error)}.`, { cause: error });
    }

    try {
      const problem = checkSignature(session, manifest);
      if (problem !== undefined) throw new ModelLoadError(onnxFile, `${onnxFile} ${problem}.`);
      const model = new ScoringModel(dir, manifest, sha256, withDescriptions, intraOpNumThreads, session, options.monitor);
      try {
        // warm-up: the reference row, twice, so a batch dimension other than 1 is exercised
        const warm = new Float32Array(2 * features.length);
        warm.set(model.#references, 0);
        warm.set(model.#references, features.length);
        await model.predict(warm, 2);
      } catch (error) {
        throw new ModelLoadError(onnxFile, `${onnxFile} failed its warm-up run: ${firstLine(error)}.`, { cause: error });
      }
      return model;
    } catch (error) {
      await session.release().catch(() => undefined);
      throw error;
    }
  }

  /** `session.run` calls so far, including the one warm-up run made by `create`. */
  get runCount(): number {
    return this.#runCount;
  }

  /**
   * One `session.run` over an encoded row-major `[rows, F]` matrix → the probability of default per row, clamped to
   * [0, 1]. A row whose output is NaN gets NaN (the caller decides; `score` makes it that row's error).
   */
  async predict(matrix: Float32Array, rows: number): Promise<Float32Array> {
    if (rows === 0 && matrix.length === 0) return new Float32Array(0);
    const { data, stride } = await this.#run(matrix, rows);
    const out = new Float32Array(rows);
    for (let r = 0; r < rows; r++) out[r] = this.#probability(data, r * stride);
    return out;
  }

  /**
   * Scores validated applications AND their counterfactual explanation rows in exactly one `session.run`: the input
   * holds, per application, its own row followed by one row per explained field, in which every column of that field
   * (a numeric field's one column, or all the one-hot columns of a categorical field at once) is set to its manifest
   * reference. Resolves to one result per application, in order. If some applications fail (non-finite encoding, NaN
   * probability) it rejects with a `PartialScoringError` carrying the per-application results; a session failure
   * rejects with that error.
   */
  async score(applications: readonly LoanApplication[]): Promise<ScoredApplication[]> {
    const n = applications.length;
    if (n === 0) return [];
    const features = this.features;
    const groups = this.#groups;
    const width = features.length;
    const rowsPer = groups.length + 1;
    const block = rowsPer * width;
    const references = this.#references;
    const matrix = new Float32Array(n * block);
    let failures: (ScoringError | undefined)[] | undefined;

    for (let i = 0; i < n; i++) {
      const base = i * block;
      const application = applications[i];
      let failure: ScoringError | undefined;
      for (let j = 0; j < width; j++) {
        let value: number;
        try {
          value = features[j].compute(application);
        } catch (error) {
          failure = new ScoringError('ENCODING_FAILED', `feature "${features[j].name}" could not be computed: ${firstLine(error)}`, {
            cause: error,
          });
          break;
        }
        matrix[base + j] = value;
        if (!Number.isFinite(matrix[base + j])) {
          failure = new ScoringError(
            'NON_FINITE_FEATURE',
            `feature "${features[j].name}" encodes to ${value}, which is not a finite float32`,
          );
          break;
        }
      }
      if (failure !== undefined) {
        (failures ??= new Array(n))[i] = failure;
        // keep the run valid: this application's block becomes reference rows, and is ignored afterwards
        for (let r = 0; r < rowsPer; r++) matrix.set(references, base + r * width);
        continue;
      }
      // copy the row into the rows after it by doubling (⌈log2(rows)⌉ copies), then reset each row's field
      for (let filled = width; filled < block; ) {
        const count = Math.min(filled, block - filled);
        matrix.copyWithin(base + filled, base, base + count);
        filled += count;
      }
      for (let g = 0, at = base + width; g < groups.length; g++, at += width) {
        for (const c of groups[g].columns) matrix[at + c] = references[c];
      }
    }

    if (failures !== undefined && failures.filter(Boolean).length === n) throw new PartialScoringError(failures as ScoringError[]);
    const { data, stride } = await this.#run(matrix, n * rowsPer);

    const results: (ScoredApplication | ScoringError)[] = new Array(n);
    const monitor = this.monitor;
    const probabilities = monitor && new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const failure = failures?.[i];
      if (failure !== undefined) {
        results[i] = failure;
        continue;
      }
      const first = i * rowsPer;
      const p = this.#probability(data, first * stride);
      const impacts: FieldImpact[] = new Array(groups.length);
      let nanAt = Number.isNaN(p) ? -1 : undefined;
      for (let g = 0; nanAt === undefined && g < groups.length; g++) {
        const q = this.#probability(data, (first + 1 + g) * stride);
        if (Number.isNaN(q)) nanAt = g;
        else {
          const { field, categorical } = groups[g];
          impacts[g] = { field, category: categorical && categoryOf(applications[i], categorical), impact: p - q };
        }
      }
      if (nanAt !== undefined) {
        const message =
          nanAt < 0
            ? 'the model returned NaN as the probability of default'
            : `the model returned NaN for the explanation row that sets "${groups[nanAt].field}" to its reference`;
        results[i] = new ScoringError('NAN_PROBABILITY', message);
        (failures ??= new Array(n))[i] = results[i] as ScoringError;
        continue;
      }
      results[i] = { probabilityOfDefault: p, impacts, model: this };
      if (probabilities) probabilities[i] = p;
    }
    // the applications' own rows counted into the drift bins, feature by feature: typed-array increments only
    if (monitor && failures === undefined) monitor.observeBatch(matrix, block, probabilities!, 0, n);
    else if (monitor) for (let i = 0; i < n; i++) if (failures![i] === undefined) monitor.observeBatch(matrix, block, probabilities!, i, i + 1);
    if (failures !== undefined) throw new PartialScoringError(results);
    return results as ScoredApplication[];
  }

  /**
   * The probability of default of each application, in order, from one `session.run` of one row per application (no
   * explanation rows: a challenger decides nothing, so it explains nothing). NaN for an application that cannot be
   * encoded or whose output is NaN; a session failure rejects.
   */
  async probabilities(applications: readonly LoanApplication[]): Promise<Float32Array> {
    const n = applications.length;
    const features = this.features;
    const width = features.length;
    const matrix = new Float32Array(n * width);
    let unencodable: number[] | undefined;
    for (let i = 0; i < n; i++) {
      const base = i * width;
      try {
        for (let j = 0; j < width; j++) matrix[base + j] = features[j].compute(applications[i]);
      } catch {
        matrix[base] = NaN;
      }
      for (let j = 0; j < width; j++) {
        if (Number.isFinite(matrix[base + j])) continue;
        // keep the run valid with the reference row; this application's answer is NaN
        matrix.set(this.#references, base);
        (unencodable ??= []).push(i);
        break;
      }
    }
    const out = await this.predict(matrix, n);
    if (unencodable) for (const i of unencodable) out[i] = NaN;
    return out;
  }

  /** Releases the session once the runs already started have finished. Idempotent. */
  release(): Promise<void> {
    this.#releasing ??= (async () => {
      await Promise.allSettled([...this.#inflight]);
      await this.#session.release();
    })();
    return this.#releasing;
  }

  #probability(data: Float32Array, rowStart: number): number {
    let p = data[rowStart + this.#column];
    if (this.#approval) p = 1 - p;
    // NaN fails both comparisons and stays NaN
    return p < 0 ? 0 : p > 1 ? 1 : p;
  }

  async #run(matrix: Float32Array, rows: number): Promise<RawOutput> {
    if (this.#releasing !== undefined) {
      throw new Error(`model ${this.manifest.name}@${this.manifest.version} has been released`);
    }
    const width = this.features.length;
    if (!Number.isInteger(rows) || rows < 1 || matrix.length !== rows * width) {
      throw new RangeError(`predict needs a [rows, ${width}] matrix: got ${matrix.length} values for ${rows} row(s)`);
    }
    const input = new ort.Tensor('float32', matrix, [rows, width]);
    this.#runCount++;
    const pending = this.#session.run({ [this.#inputName]: input }, this.#fetches);
    this.#inflight.add(pending);
    let output: ort.Tensor | undefined;
    try {
      output = (await pending)[this.#fetches[0]];
    } finally {
      this.#inflight.delete(pending);
    }
    const name = this.#fetches[0];
    if (output === undefined || output.type !== 'float32') {
      throw new Error(`output "${name}" is ${output === undefined ? 'missing' : output.type}, expected float32`);
    }
    const dims = output.dims;
    if (dims[0] !== rows || dims.length > 2) {
      throw new Error(`output "${name}" has shape ${describeShape(dims)} for ${rows} input row(s)`);
    }
    const stride = dims.length === 2 ? dims[1] : 1;
    if (this.#column >= stride) {
      throw new Error(`output "${name}" has shape ${describeShape(dims)}, which has no column ${this.#column}`);
    }
    return { data: output.data as Float32Array, stride };
  }
}

/** Whether `target` lies strictly inside `root` (both absolute and without symlinks). */
function isInside(root: string, target: string): boolean {
  const relative = path.relative(root, target);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

async function realPathOf(file: string, what = ''): Promise<string> {
  try {
    return await realpath(file);
  } catch (error) {
    throw new ModelLoadError(file, `${file}${what} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, {
      cause: error,
    });
  }
}

/**
 * The model directory's real path; with `confineTo`, it must lie inside confineTo's real path, so neither ".." nor a
 * symlink (the directory's or a parent's) leads a client-named directory out of it.
 */
async function realModelDir(dir: string, confineTo: string | undefined): Promise<string> {
  const realRoot = confineTo === undefined ? undefined : await realPathOf(confineTo, ' (the directory models must be in)');
  const real = await realPathOf(dir);
  if (realRoot !== undefined && !isInside(realRoot, real)) {
    throw new ModelLoadError(dir, `${dir} resolves to ${real}, which is not inside ${realRoot}.`);
  }
  return real;
}

/** The real path of a file of the model, which must lie inside the model directory (a symlink must not lead out). */
async function realFileInside(file: string, realDir: string): Promise<string> {
  const real = await realPathOf(file);
  if (!isInside(realDir, real)) throw new ModelLoadError(file, `${file} resolves to ${real}, which is not inside its model directory ${realDir}.`);
  return real;
}

/** Reads and checks the manifest `file`, through its real path `realFile`; messages name `file`. */
async function readManifest(file: string, realFile: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(realFile, 'utf8');
  } catch (error) {
    throw new ModelLoadError(file, `${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`, {
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(file, `${file} is not valid JSON: ${(error as Error).message}.`, { cause: error });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
    throw new ModelLoadError(file, `${file} is not a valid model manifest: ${problems.join('; ')}.`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The first mismatch between the session's signature and the manifest, phrased to follow the file name. */
function checkSignature(session: ort.InferenceSession, manifest: Manifest): string | undefined {
  const width = manifest.features.length;
  const inputName = manifest.input.name;
  const input = session.inputMetadata.find((m) => m.name === inputName);
  if (input === undefined) {
    return `has no input named "${inputName}" (model.json input.name); its inputs are ${quoteList(session.inputNames)}`;
  }
  const others = session.inputNames.filter((n) => n !== inputName);
  if (others.length > 0) {
    return `has input(s) ${quoteList(others)} besides "${inputName}", which the service cannot feed`;
  }
  if (!input.isTensor) return `input "${inputName}" is not a tensor`;
  if (input.type !== 'float32') return `input "${inputName}" has element type ${input.type}, not float32`;
  const inShape = input.shape;
  if (inShape.length > 0) {
    if (inShape.length !== 2) return `input "${inputName}" has shape ${describeShape(inShape)}, not [batch, features]`;
    const last = inShape[1];
    if (typeof last === 'number' && last !== width) {
      return `input "${inputName}" takes ${last} features per row but model.json lists ${width}`;
    }
    const batch = inShape[0];
    if (typeof batch === 'number' && batch > 0) {
      return `input "${inputName}" has a fixed batch dimension of ${batch}; export it with a dynamic batch dimension`;
    }
  }

  const { name: outputName, column } = manifest.output;
  const output = session.outputMetadata.find((m) => m.name === outputName);
  if (output === undefined) {
    return `has no output named "${outputName}" (model.json output.name); its outputs are ${quoteList(session.outputNames)}`;
  }
  if (!output.isTensor) {
    return `output "${outputName}" is not a tensor: it is a ZipMap/sequence output, export with zipmap disabled`;
  }
  if (output.type !== 'float32') return `output "${outputName}" has element type ${output.type}, not float32`;
  const outShape = output.shape;
  if (outShape.length > 2) return `output "${outputName}" has shape ${describeShape(outShape)}, not [N] or [N, C]`;
  if (outShape.length > 0) {
    const columns = outShape.length === 1 ? 1 : outShape[1];
    if (typeof columns === 'number' && column >= columns) {
      return `output "${outputName}" has shape ${describeShape(outShape)}, so model.json output.column ${column} is out of range`;
    }
  }
  return undefined;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].replace(/\.$/, '');
}
