import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fromRoot, type Config } from './config.js';
import type { Logger } from './logger.js';
import type { DriftMonitorOptions } from './model/drift-monitor.js';
import { ModelLoadError, ScoringModel } from './model/scoring-model.js';

/** The longest `dir` reloadModel takes; a real model directory's path is far shorter. */
const MAX_DIR_LENGTH = 1024;

/**
 * A model directory named by a client (`reloadModel(dir)`): taken from the project folder, relative and without a ".."
 * segment; `ScoringModel.create` then requires its real path inside MODELS_DIR. A refusal is a `ModelLoadError`.
 */
function clientModelDir(dir: string): string {
  const problem =
    dir.length > MAX_DIR_LENGTH
      ? `has ${dir.length} characters (at most ${MAX_DIR_LENGTH})`
      : dir.trim() === ''
        ? 'is empty'
        : dir.includes('\0')
          ? 'holds a NUL character'
          : path.isAbsolute(dir)
            ? 'is absolute (it is taken from the project folder)'
            : dir.split(/[\\/]/).includes('..')
              ? 'has a ".." segment'
              : undefined;
  if (problem !== undefined) throw new ModelLoadError(dir.slice(0, 200), `reloadModel dir ${JSON.stringify(dir.slice(0, 200))} ${problem}.`);
  return fromRoot(dir);
}

export interface ModelReloaderHooks {
  /** a model is serving now (start-up or swap) */
  onServing?: (model: ScoringModel) => void;
  /** a reload finished: swapped in, or refused (the old model keeps serving) */
  onReload?: (result: 'swapped' | 'refused') => void;
  /** each model loaded gets a drift monitor of its own with these options (MONITOR=on); unset, none */
  monitor?: DriftMonitorOptions;
}

/**
 * Loads model directories and swaps them in atomically: `ScoringModel.create` validates the directory against its
 * manifest and makes a warm-up run BEFORE `state.model` is replaced, so a directory that fails is refused
 * (`ModelLoadError`) while the old model keeps serving. The batcher reads the model once per batch, so batches
 * already running finish on the old model; the old model is released after them (`ScoringModel.release` waits for
 * in-flight runs). Reloads run one at a time.
 */
export function createModelReloader(
  state: { model: ScoringModel | undefined },
  config: Config,
  logger: Logger,
  hooks: ModelReloaderHooks = {},
) {
  let queue: Promise<unknown> = Promise.resolve();

  /**
   * The directory to load when none is named: the one in MODEL_DIR_FILE when set, else MODEL_DIR. Relative paths, here
   * and in reloadModel(dir), are taken from the project folder, like MODEL_DIR; only reloadModel(dir) is held to
   * MODELS_DIR.
   */
  async function configuredDir(): Promise<string> {
    const file = config.model.dirFile;
    if (file === undefined) return config.model.dir;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ModelLoadError(file, `${file} (MODEL_DIR_FILE) cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}).`, {
        cause: error,
      });
    }
    const dir = text.trim();
    if (dir === '' || dir.includes('\n')) throw new ModelLoadError(file, `${file} (MODEL_DIR_FILE) must hold exactly one directory path.`);
    return fromRoot(dir);
  }

  async function load(dir: string | undefined, requestId: string | undefined): Promise<ScoringModel> {
    let model: ScoringModel;
    try {
      // a directory named by a client stays inside MODELS_DIR; the configured one is the operator's choice
      const target = dir !== undefined ? clientModelDir(dir) : await configuredDir();
      const confineTo = dir !== undefined ? config.model.modelsDir : undefined;
      model = await ScoringModel.create(target, { intraOpNumThreads: config.model.intraOpNumThreads, confineTo, monitor: hooks.monitor });
    } catch (error) {
      if (state.model) {
        hooks.onReload?.('refused');
        // the whole detail is here, for the operator; the client's answer names only the request id
        logger.warn(
          { err: error, dir: dir?.slice(0, MAX_DIR_LENGTH), requestId, serving: state.model.manifest.version },
          'model reload refused; the old model keeps serving',
        );
      }
      throw error;
    }
    const old = state.model;
    state.model = model;
    hooks.onServing?.(model);
    const version = `${model.manifest.name}-${model.manifest.version}`;
    if (!old) {
      logger.info({ model: model.manifest.name, version: model.manifest.version, sha256: model.sha256, dir: model.dir }, 'model ready');
      return model;
    }
    hooks.onReload?.('swapped');
    const previous = `${old.manifest.name}-${old.manifest.version}`;
    logger.info({ from: previous, to: version, sha256: model.sha256, dir: model.dir }, 'model swapped');
    if (old !== model) {
      old.release().then(
        () => logger.info({ model: previous }, 'previous model released'),
        (error: unknown) => logger.error({ err: error, model: previous }, 'previous model could not be released'),
      );
    }
    return model;
  }

  return {
    configuredDir,
    /**
     * Loads `dir` (default: configuredDir()), validates it and swaps it in; rejects with ModelLoadError if refused.
     * `dir` comes from a client: relative to the project folder and inside MODELS_DIR. `requestId` goes in the log.
     */
    reload(dir?: string, requestId?: string): Promise<ScoringModel> {
      const run = queue.then(() => load(dir, requestId));
      queue = run.catch(() => undefined);
      return run;
    },
  };
}

export type ModelReloader = ReturnType<typeof createModelReloader>;
