import { createHash, timingSafeEqual } from 'node:crypto';
import { getOperationAST, Kind, type DocumentNode, type SelectionSetNode } from 'graphql';
import { shouldRenderGraphiQL, type Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import { httpError, jsonErrorResponse } from './errors.js';
import { noteErrorCode, requestRecord } from './request-log.js';

/** The partner key header. */
export const API_KEY_HEADER = 'x-api-key';
/** The admin key header (reloadModel). */
export const ADMIN_KEY_HEADER = 'x-admin-key';

/** Lower-case hex SHA-256 of a key: what API_KEYS and ADMIN_KEY_SHA256 hold. */
export function sha256Hex(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface Caller {
  keyId: string;
}

/** The longest key header we bother hashing; a longer one is simply not a key. */
const MAX_KEY_LENGTH = 512;

function hashOf(presented: string | null): Buffer | undefined {
  if (presented === null || presented.length === 0 || presented.length > MAX_KEY_LENGTH) return undefined;
  return createHash('sha256').update(presented, 'utf8').digest();
}

/**
 * Checks presented keys against configured SHA-256 hashes: the presented key is hashed and compared with EVERY
 * configured hash by `crypto.timingSafeEqual` (no early exit), so the time taken depends on neither the key nor
 * which entry matched.
 */
export class KeyVerifier {
  readonly #keys: { id: string; hash: Buffer }[];
  readonly #reviewers: { id: string; hash: Buffer }[];
  readonly #admin: Buffer | undefined;

  constructor(auth: Config['auth']) {
    this.#keys = auth.apiKeys.map((k) => ({ id: k.id, hash: Buffer.from(k.sha256, 'hex') }));
    this.#reviewers = auth.reviewerKeys.map((k) => ({ id: k.id, hash: Buffer.from(k.sha256, 'hex') }));
    this.#admin = auth.adminKeySha256 === undefined ? undefined : Buffer.from(auth.adminKeySha256, 'hex');
  }

  /** true when partner keys are configured (and so required for mutations) */
  get enforcing(): boolean {
    return this.#keys.length > 0;
  }

  /** true when an admin key hash is configured */
  get adminEnabled(): boolean {
    return this.#admin !== undefined;
  }

  /** true when reviewer keys are configured (reviewDecision is refused without) */
  get reviewersEnabled(): boolean {
    return this.#reviewers.length > 0;
  }

  /** The partner a presented `x-api-key` belongs to, or null. */
  caller(presented: string | null): Caller | null {
    return match(this.#keys, presented);
  }

  /** The reviewer (a loan officer) a presented `x-api-key` belongs to, or null. */
  reviewer(presented: string | null): Caller | null {
    return match(this.#reviewers, presented);
  }

  /** Whether a presented `x-admin-key` is the admin key. */
  isAdmin(presented: string | null): boolean {
    if (!this.#admin) return false;
    const hash = hashOf(presented) ?? Buffer.alloc(32);
    return timingSafeEqual(hash, this.#admin) && presented !== null;
  }
}

function match(keys: { id: string; hash: Buffer }[], presented: string | null): Caller | null {
  const hash = hashOf(presented) ?? Buffer.alloc(32);
  let found: Caller | null = null;
  for (const key of keys) {
    if (timingSafeEqual(hash, key.hash) && presented) found = { keyId: key.id };
  }
  return found;
}

/** Root fields of the operation to run, through inline fragments and fragment spreads. */
function rootFields(document: DocumentNode, operationName: string | null | undefined): { type: string; fields: Set<string> } | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  const fragments = new Map(
    document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d.selectionSet] as const),
  );
  const fields = new Set<string>();
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) fields.add(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const fragment = fragments.get(s.name.value);
        if (fragment) walk(fragment);
      }
    }
  };
  walk(operation.selectionSet);
  return { type: operation.operation, fields };
}

/** Root fields that need the admin key rather than a partner key. */
export const ADMIN_FIELDS: ReadonlySet<string> = new Set(['reloadModel']);
/** Root fields that need a reviewer key (a loan officer's) rather than a partner key. */
export const REVIEWER_FIELDS: ReadonlySet<string> = new Set(['reviewDecision']);

/** Context fields the auth plugin relies on. */
interface AuthContext {
  caller: Caller | null;
  /** the loan officer whose reviewer key authenticated this request */
  reviewer: Caller | null;
  isAdmin: boolean;
}

/**
 * Key rules, checked per operation before it runs:
 * - when partner keys are configured, a mutation (other than an admin field) needs a valid `x-api-key`, else
 *   UNAUTHENTICATED (401); so do queries when `requireKeyForQueries` (`__typename` alone is always free);
 * - `reloadModel` needs the admin key in `x-admin-key` (401 UNAUTHENTICATED without it, 403 FORBIDDEN when no admin
 *   key is configured at all);
 * - with `requireKeyForGraphiql`, the GraphiQL page itself needs a valid key.
 */
export function useApiKeys(verifier: KeyVerifier, auth: Config['auth']): Plugin<AuthContext> {
  return {
    onRequest({ request, endResponse }) {
      if (!verifier.enforcing || !auth.requireKeyForGraphiql || !shouldRenderGraphiQL(request)) return;
      const presented = request.headers.get(API_KEY_HEADER);
      if (verifier.caller(presented) === null && verifier.reviewer(presented) === null) {
        noteErrorCode(request, 'UNAUTHENTICATED');
        endResponse(jsonErrorResponse(401, 'UNAUTHENTICATED', `GraphiQL needs a valid ${API_KEY_HEADER} header`));
      }
    },
    onExecute({ args, setResultAndStopExecution }) {
      const context = args.contextValue;
      const root = rootFields(args.document, args.operationName);
      if (!root) return;
      const fields = [...root.fields].filter((f) => f !== '__typename');
      const admin = fields.filter((f) => root.type === 'mutation' && ADMIN_FIELDS.has(f));
      const reviewer = fields.filter((f) => root.type === 'mutation' && REVIEWER_FIELDS.has(f));
      const partner = fields.filter((f) => !admin.includes(f) && !reviewer.includes(f));
      const refuse = (status: number, code: string, message: string) =>
        setResultAndStopExecution({
          errors: [httpError(status, code, message, status === 401 ? { headers: { 'www-authenticate': 'ApiKey' } } : {})],
        });
      if (admin.length > 0) {
        if (!verifier.adminEnabled) return refuse(403, 'FORBIDDEN', `${admin.join(', ')} is disabled: no admin key is configured`);
        if (!context.isAdmin) return refuse(401, 'UNAUTHENTICATED', `${admin.join(', ')} needs the admin key in ${ADMIN_KEY_HEADER}`);
      }
      if (reviewer.length > 0) {
        if (!verifier.reviewersEnabled) return refuse(403, 'FORBIDDEN', `${reviewer.join(', ')} is disabled: no reviewer keys are configured`);
        if (context.reviewer === null) {
          if (context.caller !== null) return refuse(403, 'FORBIDDEN', `${reviewer.join(', ')} needs a reviewer key, not a partner key`);
          return refuse(401, 'UNAUTHENTICATED', `${reviewer.join(', ')} needs a reviewer key in the ${API_KEY_HEADER} header`);
        }
      }
      // a reviewer key reads (queries) but scores nothing: mutations other than reviews need a partner key
      const keyed = root.type === 'mutation' ? context.caller !== null : context.caller !== null || context.reviewer !== null;
      const needsKey = verifier.enforcing && partner.length > 0 && (root.type === 'mutation' || auth.requireKeyForQueries);
      if (needsKey && !keyed) {
        return refuse(401, 'UNAUTHENTICATED', `This operation needs a valid partner key in the ${API_KEY_HEADER} header`);
      }
    },
  };
}

/** Resolves the caller, reviewer and admin flag of a request (for its context) and notes the key id for the log. */
export function authenticate(verifier: KeyVerifier, request: Request): AuthContext {
  const presented = request.headers.get(API_KEY_HEADER);
  const caller = verifier.caller(presented);
  const reviewer = verifier.reviewer(presented);
  const isAdmin = verifier.isAdmin(request.headers.get(ADMIN_KEY_HEADER));
  const record = requestRecord(request);
  const keyId = caller?.keyId ?? reviewer?.keyId;
  if (record && keyId) record.keyId = keyId;
  return { caller, reviewer, isAdmin };
}
