// The shared preset, plus .mjs: the example's modules are ESM, and @swc/jest compiles them for Jest.
const preset = require('../../jest.preset.cjs');

module.exports = {
  ...preset,
  transform: { '^.+\\.(t|j)sx?$|^.+\\.mjs$': preset.transform['^.+\\.(t|j)sx?$'] },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};
