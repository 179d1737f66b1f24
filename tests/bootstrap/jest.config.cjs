// `pnpm test:fresh`: not part of turbo's `test` task, so it runs once per CI run (the bootstrap
// calls it), not once per Node line. It installs and builds a whole copy of the repo.
module.exports = {
  ...require('../../jest.preset.cjs'),
  testTimeout: 600_000,
};
