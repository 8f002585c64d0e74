import { GraphQLError } from 'graphql';
import { httpError } from '../plugins/errors.js';
import { ModelLoadError } from '../model/scoring-model.js';
import type { ModelChange } from '../model-reload.js';
import { builder } from '../schema/builder.js';
import { ModelInfo, modelInfoOf, type ModelInfoShape } from '../schema/model-info.js';

builder.mutationField('reloadModel', (t) =>
  t.field({
    type: ModelInfo,
    description:
      'Admin only (x-admin-key). Loads a model directory (default: the configured one), validates it against its ' +
      'manifest with a warm-up run, and swaps it in; runs already under way finish on the old model. With ' +
      '`challengerDir` or `clearChallenger` it sets or clears the challenger instead, and with `dir` as well it changes ' +
      'both, or neither. Promoting the challenger is `dir` set to its directory (with `clearChallenger: true`). A ' +
      'directory that fails is refused with MODEL_INVALID and the old models keep serving; the server log has the detail.',
    args: {
      dir: t.arg.string({
        required: false,
        description: 'A model directory in MODELS_DIR (model.json + ONNX file), relative to the project folder',
      }),
      challengerDir: t.arg.string({
        required: false,
        description: 'A model directory in MODELS_DIR to score every batch beside the served model, deciding nothing',
      }),
      clearChallenger: t.arg.boolean({ required: false, description: 'true: no challenger from now on' }),
    },
    resolve: async (_root, { dir, challengerDir, clearChallenger }, context): Promise<ModelInfoShape> => {
      // the auth plugin refuses non-admins before execution; this is the second lock on the door
      if (!context.isAdmin) throw httpError(401, 'UNAUTHENTICATED', 'reloadModel needs the admin key');
      if (challengerDir != null && clearChallenger) {
        throw new GraphQLError('reloadModel takes challengerDir or clearChallenger: true, not both', {
          extensions: { code: 'BAD_USER_INPUT', field: 'clearChallenger', http: { status: 400 } },
        });
      }
      const challenger: ModelChange['challenger'] = challengerDir != null ? { dir: challengerDir } : clearChallenger ? 'none' : undefined;
      // without any argument, the served model is reloaded from its configured directory, as before challengers
      const champion: ModelChange['champion'] = dir != null ? { dir } : challenger === undefined ? 'configured' : undefined;
      try {
        const { model } = await context.changeModels({ champion, challenger }, context.requestId);
        return modelInfoOf(model, context.config);
      } catch (error) {
        if (error instanceof ModelLoadError) {
          // One answer for every refusal: the detail (real paths, whether a path exists, what a file holds) would let
          // the caller probe the server's file system. The reloader logs it under this request id.
          throw new GraphQLError(
            `Model refused, the old model keeps serving; the server log has the reason under request id ${context.requestId}`,
            { extensions: { code: 'MODEL_INVALID', requestId: context.requestId, http: { status: 422 } } },
          );
        }
        throw error;
      }
    },
  }),
);
