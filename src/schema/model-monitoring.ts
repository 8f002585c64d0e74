import type { Config } from '../config.js';
import type { DecisionOutcome as Outcome } from '../decisions/outcome.js';
import type { BinShift as BinShiftShape, FeatureDrift as FeatureDriftShape, MonitoringSnapshot } from '../model/drift-monitor.js';
import type { ScoringModel } from '../model/scoring-model.js';
import { builder } from './builder.js';
import { DateTime } from './date-time.js';
import { DecisionOutcome } from './decision-outcome.js';
import { MonitoringStatus } from './monitoring-status.js';

export interface ModelMonitoringShape {
  status: 'OFF' | 'NO_REFERENCE' | 'COLLECTING' | 'ACTIVE';
  psiAlert: number;
  window: MonitoringSnapshot['window'];
  outcomeRates: Array<{ outcome: Outcome; count: number; rate: number }>;
  meanProbabilityOfDefault: number | null;
  score: FeatureDriftShape | null;
  features: FeatureDriftShape[];
  alerts: string[];
}

// The types below exist only as parts of ModelMonitoring, so they live beside it.

const BinShift = builder.objectRef<BinShiftShape>('BinShift').implement({
  description: "One bin's part of a feature's PSI",
  fields: (t) => ({
    bin: t.exposeString('bin', { description: 'e.g. "≤ 34104", "34104 < x ≤ 42552", "> 122933", or a category' }),
    lower: t.exposeFloat('lower', { nullable: true, description: 'Lower edge (exclusive); null for the first bin and a category' }),
    upper: t.exposeFloat('upper', { nullable: true, description: 'Upper edge (inclusive); null for the last bin and a category' }),
    category: t.exposeString('category', { nullable: true }),
    trainingShare: t.exposeFloat('trainingShare', { description: "Share of the training rows in this bin (the model's profile)" }),
    windowShare: t.exposeFloat('windowShare', { description: "Share of the window's applications in this bin" }),
    contribution: t.exposeFloat('contribution', { description: '(window − training) · ln(window / training), shares floored at 0.0001' }),
  }),
});

const FeatureDrift = builder.objectRef<FeatureDriftShape>('FeatureDrift').implement({
  description: "One feature's shift between the training rows and the window",
  fields: (t) => ({
    feature: t.exposeString('feature', { description: 'A profiled feature of the manifest, or probabilityOfDefault' }),
    psi: t.exposeFloat('psi', { nullable: true, description: 'Population stability index; null while the window is too small' }),
    alert: t.exposeBoolean('alert', { description: 'PSI above psiAlert' }),
    largestShifts: t.expose('largestShifts', { type: [BinShift], description: 'At most 3 bins, the largest contributions first' }),
  }),
});

const OutcomeRate = builder.objectRef<ModelMonitoringShape['outcomeRates'][number]>('OutcomeRate').implement({
  fields: (t) => ({
    outcome: t.expose('outcome', { type: DecisionOutcome }),
    count: t.exposeInt('count', { description: "The window's decisions with this outcome (policy included)" }),
    rate: t.exposeFloat('rate', { description: "Their share of the window's decisions" }),
  }),
});

const MonitoringWindow = builder.objectRef<ModelMonitoringShape['window']>('MonitoringWindow').implement({
  description: 'The sliding window of the last MONITOR_WINDOW applications this replica scored with this model',
  fields: (t) => ({
    capacity: t.exposeInt('capacity', { description: 'MONITOR_WINDOW' }),
    applications: t.exposeInt('applications', { description: 'Applications in the window now (90–100 % of capacity once full)' }),
    minApplications: t.exposeInt('minApplications', { description: 'PSI is computed from this many applications on' }),
    since: t.expose('since', { type: DateTime, nullable: true, description: 'When its oldest application was scored' }),
    ageSeconds: t.exposeFloat('ageSeconds'),
  }),
});

export const ModelMonitoring = builder.objectRef<ModelMonitoringShape>('ModelMonitoring').implement({
  description: "Live drift on this replica: the model's scored applications over a sliding window against its training profile",
  fields: (t) => ({
    status: t.expose('status', { type: MonitoringStatus }),
    psiAlert: t.exposeFloat('psiAlert', { description: 'MONITOR_PSI_ALERT: a PSI above it is an alert' }),
    window: t.expose('window', { type: MonitoringWindow }),
    outcomeRates: t.expose('outcomeRates', { type: [OutcomeRate] }),
    meanProbabilityOfDefault: t.exposeFloat('meanProbabilityOfDefault', { nullable: true }),
    score: t.expose('score', { type: FeatureDrift, nullable: true, description: 'The predicted probability of default' }),
    features: t.expose('features', { type: [FeatureDrift], description: 'Each profiled feature, the highest PSI first' }),
    alerts: t.exposeStringList('alerts', { description: 'The features (probabilityOfDefault included) whose PSI is above psiAlert' }),
  }),
});

/** What `ModelInfo.monitoring` shows of a model's drift monitor (OFF when it has none). */
export function monitoringOf(model: ScoringModel, config: Config): ModelMonitoringShape {
  const monitor = model.monitor;
  if (monitor === undefined) {
    return {
      status: 'OFF',
      psiAlert: config.monitoring.psiAlert,
      window: { capacity: 0, applications: 0, minApplications: 0, since: null, ageSeconds: 0 },
      outcomeRates: [],
      meanProbabilityOfDefault: null,
      score: null,
      features: [],
      alerts: [],
    };
  }
  const s = monitor.snapshot();
  return {
    status: !s.hasReference ? 'NO_REFERENCE' : s.window.applications < s.window.minApplications ? 'COLLECTING' : 'ACTIVE',
    psiAlert: s.psiAlert,
    window: s.window,
    outcomeRates: s.outcomes.map((o) => ({ ...o, outcome: o.outcome as Outcome })),
    meanProbabilityOfDefault: s.meanProbabilityOfDefault,
    score: s.score,
    features: s.features,
    alerts: s.alerts,
  };
}
