import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // onnxruntime-node and better-sqlite3 are native addons: separate processes keep them apart cleanly.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
