import type DataLoader from 'dataloader';
import type { Config } from './config.js';
import type { LoanApplication } from './model/application.js';
import type { DecisionService } from './model/decision-service.js';
import type { ScoredApplication, ScoringModel } from './model/scoring-model.js';

/** What every resolver can reach. The model can change (hot swap), so it is read through a getter. */
export interface Context {
  config: Config;
  loader: DataLoader<LoanApplication, ScoredApplication>;
  currentModel: () => ScoringModel;
  decisions: DecisionService;
  /** the partner whose `x-api-key` authenticated this request; null without a valid key (or with none configured) */
  caller: { keyId: string } | null;
  /** this request's id: nginx's `x-request-id`, or a fresh one; echoed in the response's `x-request-id` */
  requestId: string;
  /** the request carried the admin key (`x-admin-key`) */
  isAdmin: boolean;
  /**
   * loads, validates and atomically swaps in a model directory (default: the configured one; a named one must be in
   * MODELS_DIR); admin only. `requestId` goes in the log line of a refusal.
   */
  reloadModel: (dir?: string, requestId?: string) => Promise<ScoringModel>;
  /** counts a decision in the decisions-by-outcome metric (done for Mutation results already: see src/metrics.ts) */
  recordDecision: (outcome: string, modelVersion: string) => void;
}

/** The per-request part of the context (built by createApp for each request). */
export type RequestContextFields = 'caller' | 'requestId' | 'isAdmin';
/** The part of the context every request shares. */
export type SharedContext = Omit<Context, RequestContextFields>;
