import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * The console's GraphQL types, generated from the committed schema (`npm run console:types`, run by `npm run
 * typecheck` and by the console's build): a document the schema cannot answer fails the generation, and a field the
 * code reads but the document does not select fails `tsc`. Paths are from the project folder.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['console/src/**/*.ts', '!console/src/gql/**'],
  // imports with a .js suffix, as the NodeNext resolution of the rest of the project expects
  emitLegacyCommonJSImports: false,
  generates: {
    'console/src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        // documents as plain strings: the bundle needs no GraphQL parser or printer at run time
        documentMode: 'string',
        // string unions instead of TypeScript enums: no enum objects in the bundle
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { DateTime: 'string' },
      },
    },
  },
};

export default config;
