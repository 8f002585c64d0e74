import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { applicationsRequested } from '../src/plugins/budget.js';
import { goodApplication } from './helpers/applications.js';

const count = (query: string, variables?: unknown, operationName?: string) => applicationsRequested(parse(query), operationName, variables);
const two = [goodApplication, goodApplication];

describe('applicationsRequested', () => {
  it('counts scoreApplication once and scoreApplications by the length of inputs, across aliases', () => {
    expect(count('mutation($i: LoanApplicationInput!) { a: scoreApplication(input: $i) { __typename } b: scoreApplication(input: $i) { __typename } }')).toBe(2);
    expect(count('mutation($l: [LoanApplicationInput!]!) { a: scoreApplications(inputs: $l) { __typename } scoreApplications(inputs: $l) { __typename } }', { l: two })).toBe(4);
  });

  it('reads list literals, lists of variables, a single item GraphQL turns into a list, and null', () => {
    expect(count('mutation($a: LoanApplicationInput!, $b: LoanApplicationInput!) { scoreApplications(inputs: [$a, $b, $a]) { __typename } }')).toBe(3);
    expect(count('mutation($one: LoanApplicationInput!) { scoreApplications(inputs: $one) { __typename } }', { one: goodApplication })).toBe(1);
    expect(count('mutation($l: [LoanApplicationInput!]) { scoreApplications(inputs: $l) { __typename } }', { l: null })).toBe(0);
  });

  it('takes a variable the request leaves out from its default in the document', () => {
    const withDefault = `mutation($l: [LoanApplicationInput!]! = [${'{ annualIncome: 1 } '.repeat(3)}]) { scoreApplications(inputs: $l) { __typename } }`;
    expect(count(withDefault, {})).toBe(3);
    expect(count(withDefault, { l: two })).toBe(2);
  });

  it('follows inline fragments and fragment spreads, and stops at a fragment cycle', () => {
    const query = `mutation($l: [LoanApplicationInput!]!) {
      ... on Mutation { scoreApplications(inputs: $l) { __typename } }
      ...F
    }
    fragment F on Mutation { x: scoreApplications(inputs: $l) { __typename } ...G }
    fragment G on Mutation { y: scoreApplications(inputs: $l) { __typename } ...F }`;
    expect(count(query, { l: two })).toBe(6);
  });

  it('counts only the operation that runs, and nothing in a query', () => {
    const doc = `mutation A($l: [LoanApplicationInput!]!) { scoreApplications(inputs: $l) { __typename } }
      mutation B($i: LoanApplicationInput!) { scoreApplication(input: $i) { __typename } }
      query C { modelInfo { version } }`;
    expect(count(doc, { l: two }, 'A')).toBe(2);
    expect(count(doc, { l: two }, 'B')).toBe(1);
    expect(count(doc, { l: two }, 'C')).toBe(0);
    expect(count(doc, { l: two }, 'Nope')).toBe(0);
  });
});
