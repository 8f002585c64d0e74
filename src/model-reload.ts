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
function clientModelDir(dir: string, argument: 'dir' | 'challengerDir'): string {
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
  if (problem !== undefined) throw new ModelLoadError(dir.slice(0, 200), `reloadModel ${argument} ${JSON.stringify(dir.slice(0, 200))} ${problem}.`);
  return fromRoot(dir);
}

/** Where a model comes from: the operator's configuration, or a directory a client named (held to MODELS_DIR). */
export type ModelSource = 'configured' | { dir: string };

/** What one reload changes; a slot left out keeps what it has. */
export interface ModelChange {
  /** the served model: 'configured' is MODEL_DIR_FILE's directory, else MODEL_DIR */
  champion?: ModelSource;
  /**
   * the challenger: 'configured' is CHALLENGER_MODEL_DIR_FILE's directory (none when the file is empty), else
   * CHALLENGER_MODEL_DIR (none when unset); 'none' clears it
   */
  challenger?: ModelSource | 'none';
}

/** The challenger named by the configuration or a client cannot be served. The message says it is the challenger. */
export class ChallengerLoadError extends ModelLoadError {
  override name = 'ChallengerLoadError';
  constructor(error: ModelLoadError) {
    super(error.file, `The challenger cannot be served: ${error.message}`, { cause: error });
  }
}

export interface ModelReloaderHooks {
  /** a model is serving now (start-up or swap) */
  onServing?: (model: ScoringModel) => void;
  /** the challenger changed: a new one scores beside the served model, or (undefined) none does */
  onChallenger?: (challenger: ScoringModel | undefined) => void;
  /** a reload finished: swapped in, or refused (the old models keep serving) */
  onReload?: (result: 'swapped' | 'refused') => void;
  /** each model loaded gets a drift monitor of its own with these options (MONITOR=on); unset, none */
  monitor?: DriftMonitorOptions;
}

const versionOf = (model: ScoringModel) => `${model.manifest.name}-${model.manifest.version}`;

/**
 * Loads model directories and swaps them in atomically: `ScoringModel.create` validates each directory against its
 * manifest and makes a warm-up run BEFORE `state.model` (or `state.challenger`) is replaced, so a directory that fails
 * is refused (`ModelLoadError`) while the old models keep serving; a reload that names both slots swaps both or
 * neither. The batcher reads both once per batch, so batches already running finish on the old ones, which are
 * released after them (`ScoringModel.release` waits for in-flight runs). Reloads run one at a time.
 */
export function createModelReloader(
  state: { model: ScoringModel | undefined; challenger?: ScoringModel | undefined },
  config: Config,
  logger: Logger,
  hooks: ModelReloaderHooks = {},
) {
  let queue: Promise<unknown> = Promise.resolve();

  /** One directory path from a `*_DIR_FILE`; an empty file is `undefined` where `emptyMeansNone`, else refused. */
  async function dirFromFile(file: string, variable: string, emptyMeansNone: boolean): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ModelLoadError(file, `${file} (${variable}) cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}).`, {
        cause: error,
      });
    }
    const dir = text.trim();
    if (dir === '' && emptyMeansNone) return undefined;
    if (dir === '' || dir.includes('\n')) {
      throw new ModelLoadError(file, `${file} (${variable}) must hold exactly one directory path${emptyMeansNone ? ', or nothing' : ''}.`);
    }
    return fromRoot(dir);
  }

  /**
   * The directory to load when none is named: the one in MODEL_DIR_FILE when set, else MODEL_DIR. Relative paths, here
   * and in reloadModel(dir), are taken from the project folder, like MODEL_DIR; only reloadModel(dir) is held to
   * MODELS_DIR.
   */
  async function configuredDir(): Promise<string> {
    const file = config.model.dirFile;
    return file === undefined ? config.model.dir : (await dirFromFile(file, 'MODEL_DIR_FILE', false))!;
  }

  /** The challenger's configured directory: CHALLENGER_MODEL_DIR_FILE's content when set (empty: none), else CHALLENGER_MODEL_DIR. */
  async function configuredChallengerDir(): Promise<string | undefined> {
    const file = config.model.challengerDirFile;
    return file === undefined ? config.model.challengerDir : dirFromFile(file, 'CHALLENGER_MODEL_DIR_FILE', true);
  }

  /** Loads and checks one model; a directory named by a client stays inside MODELS_DIR, the configured one is the operator's choice. */
  async function open(source: ModelSource | 'none', slot: 'champion' | 'challenger'): Promise<ScoringModel | undefined> {
    if (source === 'none') return undefined;
    const target =
      source !== 'configured'
        ? clientModelDir(source.dir, slot === 'champion' ? 'dir' : 'challengerDir')
        : slot === 'champion'
          ? await configuredDir()
          : await configuredChallengerDir();
    if (target === undefined) return undefined;
    const confineTo = source !== 'configured' ? config.model.modelsDir : undefined;
    // drift is watched on the model that decides; the challenger is compared with it instead
    const monitor = slot === 'champion' ? hooks.monitor : undefined;
    return ScoringModel.create(target, { intraOpNumThreads: config.model.intraOpNumThreads, confineTo, monitor });
  }

  function retire(old: ScoringModel | undefined, replacement: ScoringModel | undefined) {
    if (!old || old === replacement) return;
    const previous = versionOf(old);
    old.release().then(
      () => logger.info({ model: previous }, 'previous model released'),
      (error: unknown) => logger.error({ err: error, model: previous }, 'previous model could not be released'),
    );
  }

  async function load(change: ModelChange, requestId: string | undefined): Promise<{ model: ScoringModel; challenger: ScoringModel | undefined }> {
    let model: ScoringModel | undefined;
    let challenger: ScoringModel | undefined;
    try {
      if (change.champion) model = await open(change.champion, 'champion');
      if (change.challenger) {
        try {
          challenger = await open(change.challenger, 'challenger');
        } catch (error) {
          throw error instanceof ModelLoadError ? new ChallengerLoadError(error) : error;
        }
      }
    } catch (error) {
      // both or neither: a champion already loaded for this reload is let go
      await model?.release().catch(() => undefined);
      if (state.model) {
        hooks.onReload?.('refused');
        const named = (source: ModelChange['champion'] | ModelChange['challenger']) =>
          typeof source === 'object' ? source.dir.slice(0, MAX_DIR_LENGTH) : source;
        // the whole detail is here, for the operator; the client's answer names only the request id
        logger.warn(
          {
            err: error,
            dir: named(change.champion),
            challengerDir: named(change.challenger),
            requestId,
            serving: state.model.manifest.version,
            challenger: state.challenger?.manifest.version,
          },
          'model reload refused; the old model keeps serving',
        );
      }
      throw error;
    }

    const starting = state.model === undefined;
    if (model) {
      const old = state.model;
      state.model = model;
      hooks.onServing?.(model);
      if (!old) {
        logger.info({ model: model.manifest.name, version: model.manifest.version, sha256: model.sha256, dir: model.dir }, 'model ready');
      } else {
        logger.info({ from: versionOf(old), to: versionOf(model), sha256: model.sha256, dir: model.dir }, 'model swapped');
        retire(old, model);
      }
    }
    if (change.challenger) {
      const old = state.challenger;
      state.challenger = challenger;
      hooks.onChallenger?.(challenger);
      if (challenger) {
        logger.info(
          { from: old && versionOf(old), to: versionOf(challenger), sha256: challenger.sha256, dir: challenger.dir },
          'challenger scoring beside the served model',
        );
      } else if (old) {
        logger.info({ from: versionOf(old) }, 'challenger cleared');
      }
      retire(old, challenger);
    }
    if (!starting) hooks.onReload?.('swapped');
    return { model: state.model!, challenger: state.challenger };
  }

  const enqueue = <T>(run: () => Promise<T>): Promise<T> => {
    const result = queue.then(run);
    queue = result.catch(() => undefined);
    return result;
  };

  return {
    configuredDir,
    /**
     * Loads `dir` (default: configuredDir()), validates it and swaps it in; rejects with ModelLoadError if refused.
     * `dir` comes from a client: relative to the project folder and inside MODELS_DIR. `requestId` goes in the log.
     */
    reload(dir?: string, requestId?: string): Promise<ScoringModel> {
      return enqueue(() => load({ champion: dir === undefined ? 'configured' : { dir } }, requestId)).then((r) => r.model);
    },
    /**
     * Changes the slots `change` names, both or neither; rejects with ModelLoadError (ChallengerLoadError for the
     * challenger) if refused. Start-up and SIGHUP pass { champion: 'configured', challenger: 'configured' }.
     */
    change(change: ModelChange, requestId?: string): Promise<{ model: ScoringModel; challenger: ScoringModel | undefined }> {
      return enqueue(() => load(change, requestId));
    },
  };
}

export type ModelReloader = ReturnType<typeof createModelReloader>;
