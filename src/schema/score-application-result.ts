import type { DecisionResult } from '../decisions/decision.js';
import { builder } from './builder.js';
import { Decision } from './decision.js';
import { InvalidApplication } from './invalid-application.js';

export const ScoreApplicationResult = builder.unionType('ScoreApplicationResult', {
  types: [Decision, InvalidApplication],
  resolveType: (result) => ((result as DecisionResult).kind === 'decision' ? Decision : InvalidApplication),
});
