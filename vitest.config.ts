import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql 16 has no "exports": Node loads its CommonJS build for the (external) Pothos and Yoga packages, while
    // Vite would pick the ES build for our own files. Two copies of graphql break instanceof checks, so pin one.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // onnxruntime-node and better-sqlite3 are native addons: separate processes keep them apart cleanly.
    pool: 'forks',
    // One file at a time: the process, cluster and load tests measure behaviour under load on 2 cores, and files
    // running beside them would only add noise (the whole suite is also faster this way here).
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
