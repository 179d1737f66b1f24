// Shared Jest settings; each package's jest.config.cjs spreads this.
// `jest --outputFile` does not create its folder, and the test summary reads test-results/jest.json.
require('node:fs').mkdirSync('test-results', { recursive: true });

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  // Integration tests start real processes; on a loaded 2-core machine that takes seconds.
  testTimeout: 60000,
};
