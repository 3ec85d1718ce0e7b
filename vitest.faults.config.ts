import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the fault-injection suite (test/faults). Loopback only, bounded, stops by itself.
 * Files run one after another: they kill processes and measure rates, which parallel files would disturb.
 */
export default defineConfig({
  resolve: { alias: { '#sdk': new URL('./src/sdk/index.ts', import.meta.url).pathname } },
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
