import type { ChallengerStatus } from '../decisions/challenger-monitor.js';
import { builder } from './builder.js';
import { Thresholds } from './thresholds.js';

export const ChallengerInfo = builder.objectRef<ChallengerStatus>('ChallengerInfo').implement({
  description:
    'A second model (CHALLENGER_MODEL_DIR, or reloadModel(challengerDir)) that scores every batch beside the served ' +
    'one and decides nothing: its probability and the outcome it would have decided go to the audit trail only. ' +
    'Compared with the served model over the last `window` decisions; the comparison starts over when either changes.',
  fields: (t) => ({
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    sha256: t.exposeString('sha256', { description: 'SHA-256 of its ONNX file' }),
    thresholds: t.expose('thresholds', {
      type: Thresholds,
      description: "What its outcome is judged by: its manifest's thresholds, after the configuration's overrides",
    }),
    window: t.exposeInt('window', { description: 'The comparison window, in decisions (MONITOR_WINDOW)' }),
    applications: t.exposeInt('applications', { description: 'Decisions in the window now: at most `window`' }),
    agreementRate: t.exposeFloat('agreementRate', {
      nullable: true,
      description: 'Share of those decisions whose outcome the challenger would have decided alike; null before the first',
    }),
    meanProbabilityDifference: t.exposeFloat('meanProbabilityDifference', {
      nullable: true,
      description: "Mean of (challenger − served) probability of default over those decisions; null before the first",
    }),
    failures: t.exposeInt('failures', {
      description: 'Applications it failed to score since it was set; each was decided, and answered, as without it',
    }),
  }),
});
