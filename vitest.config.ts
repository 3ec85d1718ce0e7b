import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { '#sdk': new URL('./src/sdk/index.ts', import.meta.url).pathname } },
  test: {
    include: ['test/**/*.test.ts', 'connectors/**/*.test.ts', 'src/**/*.test.ts'],
    exclude: ['test/faults/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
  },
});
