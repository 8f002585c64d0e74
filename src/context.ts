import type { Config } from './config.js';
import type { ChallengerStatus } from './decisions/challenger-monitor.js';
import type { DecisionService, ReadScope } from './decisions/decision-service.js';
import type { ModelChange } from './model-reload.js';
import type { ScoringModel } from './model/scoring-model.js';

/** What every resolver can reach. The model can change (hot swap), so it is read through a getter. */
export interface Context {
  config: Config;
  currentModel: () => ScoringModel;
  decisions: DecisionService;
  /** the partner whose `x-api-key` authenticated this request; null without a valid key (or with none configured) */
  caller: { keyId: string } | null;
  /** the loan officer whose reviewer key (`x-api-key`, REVIEWER_KEYS) authenticated this request; reads all, reviews */
  reviewer: { keyId: string } | null;
  /** this request's id: nginx's `x-request-id`, or a fresh one; echoed in the response's `x-request-id` */
  requestId: string;
  /** the request carried the admin key (`x-admin-key`) */
  isAdmin: boolean;
  /** which decisions this request may read: all (no keys configured, a reviewer or the admin key), its partner's own, or none */
  readScope: ReadScope;
  /** aborts at the request's deadline: resolvers start no new work after it */
  signal: AbortSignal;
  /**
   * loads, validates and atomically swaps in the served model and/or the challenger (the configured directory, or a
   * named one, which must be in MODELS_DIR; or no challenger); both or neither. Admin only. `requestId` goes in the
   * log line of a refusal.
   */
  changeModels: (change: ModelChange, requestId?: string) => Promise<{ model: ScoringModel; challenger: ScoringModel | undefined }>;
  /** the challenger and how it compares with the served model; undefined without one */
  challengerStatus: () => ChallengerStatus | undefined;
}

/** The per-request part of the context (built by createApp for each request). */
export type RequestContextFields = 'caller' | 'reviewer' | 'requestId' | 'isAdmin' | 'readScope' | 'signal';
/** The part of the context every request shares. */
export type SharedContext = Omit<Context, RequestContextFields>;
