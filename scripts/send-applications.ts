/**
 * Sends a loan-book CSV's applications to a running service, to watch drift (docs/operations.md, "Drift"):
 *
 *   npm run data -- --shift annualIncome=-30%,creditScore=-40 --rows 10000      # data/shifted.csv
 *   npm run send -- data/shifted.csv [--url http://localhost:8000/graphql] [--batch 500]
 *
 * Posts `scoreApplications` in requests of `--batch` (an `x-api-key` from $API_KEY when set), prints the outcomes,
 * then the replica's `modelInfo.monitoring`: the features in alert and each feature's PSI. Through nginx, each request
 * reaches one replica, and each replica keeps its own window.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseLoanBookCsv } from '../training/csv.js';

const SCORE = `mutation($inputs: [LoanApplicationInput!]!) { scoreApplications(inputs: $inputs) { __typename ... on Decision { outcome } } }`;
const MONITORING = `{ modelInfo { name version monitoring { status alerts window { applications capacity } score { psi } features { feature psi } } } }`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function graphql(url: string, body: unknown): Promise<any> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(process.env.API_KEY ? { 'x-api-key': process.env.API_KEY } : {}) },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as { data?: unknown; errors?: Array<{ message: string }> };
  if (!response.ok || json.errors) throw new Error(`${response.status}: ${json.errors?.map((e) => e.message).join('; ') ?? 'no data'}`);
  return json.data;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { url: { type: 'string', default: 'http://localhost:8000/graphql' }, batch: { type: 'string', default: '500' } },
    allowPositionals: true,
  });
  const file = positionals[0];
  const batch = Number(values.batch);
  if (!file) throw new Error('usage: npm run send -- <book.csv> [--url http://localhost:8000/graphql] [--batch 500]');
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch must be a positive integer, got "${values.batch}"`);
  const applications = parseLoanBookCsv(readFileSync(file, 'utf8'), file).rows.map((r) => r.application);
  const outcomes: Record<string, number> = {};
  for (let i = 0; i < applications.length; i += batch) {
    const data = await graphql(values.url!, { query: SCORE, variables: { inputs: applications.slice(i, i + batch) } });
    for (const d of data.scoreApplications as Array<{ outcome?: string; __typename: string }>) {
      const key = d.outcome ?? d.__typename;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
  }
  console.log(`sent ${applications.length} applications from ${file}: ${Object.entries(outcomes).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const { modelInfo } = await graphql(values.url!, { query: MONITORING });
  const m = modelInfo.monitoring;
  console.log(`${modelInfo.name}-${modelInfo.version}: monitoring ${m.status}, window ${m.window.applications} of ${m.window.capacity}; in alert: ${m.alerts.join(', ') || 'none'}`);
  for (const f of [...m.features, { feature: 'probabilityOfDefault', psi: m.score?.psi ?? null }]) {
    console.log(`  ${f.feature.padEnd(22)} PSI ${f.psi === null ? 'n/a' : f.psi.toFixed(3)}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
