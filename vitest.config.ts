import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'protocol/**/*.test.ts', 'media-server/**/*.test.ts', 'broker/**/*.test.ts', 'client/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests start ffmpeg, brokers and Chromium: two cores, so keep parallelism low.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
