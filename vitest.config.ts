import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // integration tests start real proxies; two cores: keep the parallelism modest
    maxWorkers: 2,
  },
});
