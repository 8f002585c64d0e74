import type { TypedDocumentString } from './gql/graphql.js';

/** One error the service answered, by its stable `extensions.code`. */
export interface ServiceError {
  code: string;
  message: string;
}

/** The operation failed: the errors the service gave, or NETWORK_ERROR / HTTP_<status> when it gave none. */
export class RequestFailed extends Error {
  constructor(readonly errors: ServiceError[]) {
    super(errors.map((e) => `${e.code}: ${e.message}`).join('; '));
  }

  /** whether the service answered this code */
  has(code: string): boolean {
    return this.errors.some((e) => e.code === code);
  }
}

interface GraphQLResponse<TResult> {
  data?: TResult | null;
  errors?: { message?: unknown; extensions?: { code?: unknown } }[];
}

/**
 * Runs one typed operation against this service's /graphql with the reviewer key in `x-api-key`. The result and
 * variables types come from the document, which graphql-codegen typed from schema.graphql.
 */
export async function request<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  key: string | null,
): Promise<TResult> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(key ? { 'x-api-key': key } : {}),
      },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
  } catch {
    throw new RequestFailed([{ code: 'NETWORK_ERROR', message: 'the service could not be reached' }]);
  }
  let body: GraphQLResponse<TResult>;
  try {
    body = (await response.json()) as GraphQLResponse<TResult>;
  } catch {
    throw new RequestFailed([{ code: `HTTP_${response.status}`, message: response.statusText || 'not a GraphQL response' }]);
  }
  if (body.errors?.length) {
    throw new RequestFailed(
      body.errors.map((e) => ({
        code: typeof e.extensions?.code === 'string' ? e.extensions.code : 'UNKNOWN',
        message: typeof e.message === 'string' ? e.message : 'no message',
      })),
    );
  }
  if (!body.data) throw new RequestFailed([{ code: `HTTP_${response.status}`, message: 'the answer has no data' }]);
  return body.data;
}
