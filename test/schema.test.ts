import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printedSchema } from '../scripts/build-schema.js';

describe('schema.graphql', () => {
  it('is the printed schema (run `npm run schema` after changing the API)', () => {
    const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(printedSchema());
  });

  it('has the names clients are written against', () => {
    const sdl = printedSchema();
    expect(sdl).toContain('scoreApplication(input: LoanApplicationInput!): ScoreApplicationResult!');
    expect(sdl).toContain('scoreApplications(inputs: [LoanApplicationInput!]!): [ScoreApplicationResult!]!');
    expect(sdl).toContain('modelInfo: ModelInfo!');
    expect(sdl).toContain('union ScoreApplicationResult = Decision | InvalidApplication');
  });
});
