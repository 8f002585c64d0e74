import { GraphQLError } from 'graphql';
import { decodeCursor, encodeCursor } from '../decisions/audit/history.js';
import { MAX_PAGE_SIZE } from '../decisions/decision-service.js';
import { builder } from '../schema/builder.js';
import { DecisionConnection } from '../schema/decision-connection.js';
import { DecisionFilter } from '../schema/decision-filter.js';

const badInput = (field: string, message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', field } });

builder.queryField('decisions', (t) =>
  t.field({
    type: DecisionConnection,
    description:
      `The decision history, newest first. A partner key reads its own decisions, a reviewer key or the admin key all ` +
      `(all when no keys are configured). first: 0 to ${MAX_PAGE_SIZE}; after: a cursor of the previous page. ` +
      'filter.reviewState PENDING is the queue of REFERs waiting for a person.',
    args: {
      filter: t.arg({ type: DecisionFilter, required: false }),
      first: t.arg.int({ required: false, defaultValue: 20 }),
      after: t.arg.string({ required: false }),
    },
    resolve: async (_root, { filter, first, after }, { decisions, readScope }) => {
      const size = first ?? 20;
      if (size < 0 || size > MAX_PAGE_SIZE) throw badInput('first', `first must be between 0 and ${MAX_PAGE_SIZE}`);
      const cursor = after == null ? undefined : decodeCursor(after);
      if (after != null && !cursor) throw badInput('after', 'after is not a cursor of this history');
      const page = await decisions.listDecisions(readScope, filter ?? {}, { first: size, after: cursor });
      const edges = page.decisions.map((node) => ({ cursor: encodeCursor(node), node }));
      return {
        edges,
        pageInfo: {
          hasNextPage: page.hasNextPage,
          hasPreviousPage: cursor !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);
