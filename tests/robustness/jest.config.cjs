// `pnpm test`: the fuzz suites plus the limit and untrusted-context tests. Safe beside every other
// package's tests: nothing here stops a broker, and every queue/topic/collection name is unique.
// The broker-fault suite has its own config (jest.faults.config.cjs) and runs alone, last.
const runs = Number(process.env.FUZZ_RUNS ?? 5000);

module.exports = {
  ...require('../../jest.preset.cjs'),
  testMatch: ['<rootDir>/test/{fuzz,limits,untrusted}/**/*.test.ts'],
  // A property runs `runs` cases in one test: scale the timeout with FUZZ_RUNS (pnpm fuzz: 200,000).
  testTimeout: Math.max(120_000, runs * 30),
};
