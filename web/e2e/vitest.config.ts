import { defineConfig } from 'vitest/config';

// The end-to-end tests: a real stack (started by stack.ts) and Debian's Chromium.
export default defineConfig({
  test: {
    root: 'e2e',
    include: ['**/*.e2e.ts'],
    globalSetup: ['stack.ts'],
    // A debug build on two cores: generous, but bounded.
    testTimeout: 180_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
