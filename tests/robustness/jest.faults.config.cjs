// `pnpm test:faults`: kills and restarts the real brokers. Runs alone, after every other test.
module.exports = {
  ...require('../../jest.preset.cjs'),
  testMatch: ['<rootDir>/test/faults/**/*.test.ts'],
  maxWorkers: 1,
  // A fault test normally takes 10-40 s; the worst case waits 90 s for the stream, 120 s for a restart and 150 s for the end.
  testTimeout: 360_000,
};
