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
  /** the authenticated partner key, where keys are configured */
  caller?: { keyId: string } | null;
}
