import { builder } from './builder.js';

export const MonitoringStatus = builder.enumType('MonitoringStatus', {
  values: {
    OFF: { description: 'MONITOR=off: nothing is counted' },
    NO_REFERENCE: { description: "The model's manifest has no reference profile: outcome rates and the mean only, no PSI" },
    COLLECTING: { description: 'Fewer applications in the window than a PSI is computed from (window.minApplications)' },
    ACTIVE: { description: 'PSI measured over the window' },
  } as const,
});
