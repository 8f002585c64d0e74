import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printedSchema } from '../scripts/build-schema.js';
import { schema } from '../src/schema/index.js';

describe('schema.graphql', () => {
  it('is the printed schema (run `npm run schema` after changing the API)', () => {
    const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(printedSchema());
  });

  it('has the names clients are written against', () => {
    const mutation = schema.getMutationType()!.getFields();
    expect(String(mutation.scoreApplication.type)).toBe('ScoreApplicationResult!');
    expect(String(mutation.scoreApplication.args.find((a) => a.name === 'input')!.type)).toBe('LoanApplicationInput!');
    expect(String(mutation.scoreApplications.type)).toBe('[ScoreApplicationResult!]!');
    expect(String(mutation.scoreApplications.args.find((a) => a.name === 'inputs')!.type)).toBe('[LoanApplicationInput!]!');
    const query = schema.getQueryType()!.getFields();
    expect(String(query.modelInfo.type)).toBe('ModelInfo!');
    expect(String(query.decision.type)).toBe('Decision');
    expect(printedSchema()).toContain('union ScoreApplicationResult = Decision | InvalidApplication');
  });
});
