import { commandName, locateOptions, runName } from '../src/child-process-args';

const callback = () => {};
const OPTIONS = { cwd: '/tmp' };
const MARK = { env: { A: '1' } };

test.each([
  // method, arguments, the caller's options found, the arguments after placing MARK
  ['spawn', ['ls'], undefined, ['ls', undefined, MARK]],
  ['spawn', ['ls', ['-l']], undefined, ['ls', ['-l'], MARK]],
  ['spawn', ['ls', ['-l'], OPTIONS], OPTIONS, ['ls', ['-l'], MARK]],
  ['spawn', ['ls', OPTIONS], OPTIONS, ['ls', MARK]],
  ['spawn', ['ls', null, OPTIONS], OPTIONS, ['ls', null, MARK]],
  ['spawnSync', ['ls', ['-l'], null], undefined, ['ls', ['-l'], MARK]],
  ['fork', ['job.js'], undefined, ['job.js', undefined, MARK]],
  ['fork', ['job.js', OPTIONS], OPTIONS, ['job.js', MARK]],
  ['exec', ['ls'], undefined, ['ls', MARK]],
  ['exec', ['ls', callback], undefined, ['ls', MARK, callback]],
  ['exec', ['ls', OPTIONS, callback], OPTIONS, ['ls', MARK, callback]],
  ['exec', ['ls', undefined, callback], undefined, ['ls', MARK, callback]],
  ['execSync', ['ls', OPTIONS], OPTIONS, ['ls', MARK]],
  ['execFile', ['ls'], undefined, ['ls', undefined, MARK]],
  ['execFile', ['ls', callback], undefined, ['ls', MARK, callback]],
  ['execFile', ['ls', ['-l'], callback], undefined, ['ls', ['-l'], MARK, callback]],
  ['execFile', ['ls', ['-l'], OPTIONS, callback], OPTIONS, ['ls', ['-l'], MARK, callback]],
  ['execFile', ['ls', OPTIONS, callback], OPTIONS, ['ls', MARK, callback]],
  ['execFile', ['ls', null, OPTIONS, callback], OPTIONS, ['ls', null, MARK, callback]],
  ['execFile', ['ls', undefined, callback], undefined, ['ls', undefined, MARK, callback]],
  ['execFileSync', ['ls', ['-l']], undefined, ['ls', ['-l'], MARK]],
] as const)('%s%j', (method, args, found, placed) => {
  const frozen = Object.freeze([...args]);
  const slot = locateOptions(method, frozen);
  expect(slot).toBeDefined();
  expect(slot?.options).toBe(found);
  expect(slot?.withOptions(MARK)).toEqual(placed);
  expect(frozen).toEqual(args);
});

test.each([
  ['spawn', ['ls', 'not-args']],
  ['spawn', ['ls', ['-l'], 'not-options']],
  ['exec', ['ls', 42]],
  ['execFile', ['ls', 'x']],
  ['execFile', ['ls', ['-l'], 'not-options']],
] as const)('%s%j: arguments Node rejects are left alone', (method, args) => {
  expect(locateOptions(method, args)).toBeUndefined();
});

test.each([
  ['spawn', ['/usr/bin/python3', ['job.py']], 'python3', 'python3'],
  ['spawn', ['node', ['--import', '@threadline/register', 'dist/job.mjs', '--flag']], 'node', 'job.mjs'],
  ['spawn', [process.execPath, ['-r', 'x', '--', 'a.js']], 'node', 'a.js'],
  ['spawn', ['node', ['--max-old-space-size=512', 'w.js']], 'node', 'w.js'],
  ['spawn', ['node', ['-e', 'console.log(1)']], 'node', undefined],
  ['spawn', ['node', []], 'node', undefined],
  ['exec', ['FOO=1 BAR=2 ./scripts/run.sh --all'], 'run.sh', 'run.sh'],
  ['exec', ['"/opt/my tools/bin" x'], 'bin', 'bin'],
  ['exec', ["'./run job.sh' --all"], 'run job.sh', 'run job.sh'],
  ['exec', ['node --import @threadline/register job.js'], 'node', 'job.js'],
  ['exec', [''], 'exec', undefined],
  ['fork', ['/srv/app/worker.cjs'], 'worker.cjs', 'worker.cjs'],
  ['fork', [new URL('file:///srv/app/worker.mjs')], 'worker.mjs', 'worker.mjs'],
  ['execFile', [42], 'execFile', undefined],
] as const)('%s%j is named %j, its run %j', (method, args, name, run) => {
  expect(commandName(method, args)).toBe(name);
  expect(runName(method, args)).toBe(run);
});

test('names are capped', () => {
  expect(commandName('spawn', ['x'.repeat(500)])).toHaveLength(64);
});
