import { getOperationAST, Kind, parse, type DocumentNode, type SelectionSetNode, type ValueNode } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { httpError } from './errors.js';

/** The value a variable has in one operation: the one sent, else the default the document declares. */
function variableValue(document: DocumentNode, operationName: string | null | undefined, name: string, variables: unknown) {
  const sent = variables !== null && typeof variables === 'object' ? (variables as Record<string, unknown>)[name] : undefined;
  if (sent !== undefined) return sent;
  const definition = getOperationAST(document, operationName)?.variableDefinitions?.find((d) => d.variable.name.value === name);
  return definition?.defaultValue;
}

/** How many applications a list argument holds: GraphQL makes a single item a list of one. */
function itemsIn(value: ValueNode | unknown, count: (node: ValueNode) => number): number {
  if (value === null || value === undefined) return 0;
  if (Array.isArray(value)) return value.length;
  if (typeof value === 'object' && 'kind' in value) return count(value as ValueNode);
  return 1;
}

/**
 * The applications one operation asks to decide: 1 per `scoreApplication`, the length of `inputs` per
 * `scoreApplications`, across aliases and fragments. Conservative: a field under `@skip` counts all the same.
 */
export function applicationsRequested(document: DocumentNode, operationName: string | null | undefined, variables: unknown): number {
  const operation = getOperationAST(document, operationName);
  if (!operation || operation.operation !== 'mutation') return 0;
  const fragments = new Map<string, SelectionSetNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d.selectionSet);

  const countList = (node: ValueNode): number => {
    if (node.kind === Kind.NULL) return 0;
    if (node.kind === Kind.LIST) return node.values.length;
    if (node.kind === Kind.VARIABLE) return itemsIn(variableValue(document, operationName, node.name.value, variables), countList);
    return 1;
  };
  const spread = new Set<string>();
  const walk = (set: SelectionSetNode): number => {
    let total = 0;
    for (const s of set.selections) {
      if (s.kind === Kind.INLINE_FRAGMENT) total += walk(s.selectionSet);
      else if (s.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(s.name.value);
        // a cycle is refused by validation later; here it only must not loop
        if (fragment && !spread.has(s.name.value)) {
          spread.add(s.name.value);
          total += walk(fragment);
          spread.delete(s.name.value);
        }
      } else if (s.name.value === 'scoreApplication') total += 1;
      else if (s.name.value === 'scoreApplications') {
        const inputs = s.arguments?.find((a) => a.name.value === 'inputs');
        total += inputs ? countList(inputs.value) : 0;
      }
    }
    return total;
  };
  return walk(operation.selectionSet);
}

export interface ApplicationBudgetOptions {
  /** the most applications one HTTP request may ask for, over all its operations, fields and aliases */
  maxItems: number;
  /** tokens a document may have; a longer one is left to the query limits to refuse */
  maxTokens: number;
  /** applications per second per partner key; 0 = no rate limit */
  ratePerSecond: number;
  /** the rate is counted over fixed windows of this many seconds (burst = rate × window) */
  rateWindowSeconds: number;
  /** the partner key id of a request, or null */
  partnerOf: (request: Request) => string | null;
}

/**
 * Counts the applications a whole HTTP request asks for (every operation of a batch, every field and alias) before
 * any of it runs, and refuses it whole:
 * - over `maxItems`: 413 BATCH_TOO_LARGE;
 * - over the partner's rate (`ratePerSecond`, counted per replica): 429 RATE_LIMITED with `retry-after`.
 */
export function useApplicationBudget(options: ApplicationBudgetOptions): Plugin {
  const { maxItems, ratePerSecond, rateWindowSeconds } = options;
  const limiter =
    ratePerSecond > 0 ? new RateLimiterMemory({ points: ratePerSecond * rateWindowSeconds, duration: rateWindowSeconds }) : undefined;

  function requested(operations: GraphQLParams[]): number {
    const documents = new Map<string, DocumentNode | null>();
    let total = 0;
    for (const params of operations) {
      if (typeof params?.query !== 'string') continue;
      let document = documents.get(params.query);
      if (document === undefined) {
        try {
          document = parse(params.query, { noLocation: true, maxTokens: options.maxTokens });
        } catch {
          // a document that does not parse runs nothing: Yoga and the query limits answer it
          document = null;
        }
        documents.set(params.query, document);
      }
      if (document) total += applicationsRequested(document, params.operationName, params.variables);
    }
    return total;
  }

  return {
    onRequestParse({ request }) {
      return {
        async onRequestParseDone({ requestParserResult }) {
          const total = requested(Array.isArray(requestParserResult) ? requestParserResult : [requestParserResult]);
          if (total > maxItems) {
            throw httpError(413, 'BATCH_TOO_LARGE', `The request asks for ${total} applications; at most ${maxItems} are accepted in one request`, {
              extensions: { maxItems, requested: total },
            });
          }
          const partner = limiter && total > 0 ? options.partnerOf(request) : null;
          if (!limiter || partner === null) return;
          try {
            await limiter.consume(partner, total);
          } catch (refusal) {
            if (!(refusal instanceof RateLimiterRes)) throw refusal;
            const seconds = Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
            throw httpError(429, 'RATE_LIMITED', `This key may ask for ${ratePerSecond} applications per second; retry in ${seconds} s`, {
              headers: { 'retry-after': String(seconds) },
              extensions: { ratePerSecond, retryAfterSeconds: seconds },
            });
          }
        },
      };
    },
  };
}
