// The shared preset, plus .mjs: the example's modules are ESM, and @swc/jest compiles them for Jest.
const { mkdirSync } = require('node:fs');
const { join } = require('node:path');
const preset = require('../../jest.preset.cjs');

// Jest's --outputFile does not create its folder.
mkdirSync(join(__dirname, 'test-results'), { recursive: true });

module.exports = {
  ...preset,
  transform: { '^.+\\.(t|j)sx?$|^.+\\.mjs$': preset.transform['^.+\\.(t|j)sx?$'] },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};
