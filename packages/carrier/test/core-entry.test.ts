import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as coreEntry from '../src/core';
import * as mainEntry from '../src';

// What a process loads when it needs only the adapters and inject/extract (the register hook
// joining a trace from its environment): never the span policy's dependencies.
test('@threadline/carrier/core loads neither @opentelemetry/instrumentation nor the semantic conventions', () => {
  const script = `
    const core = require('@threadline/carrier/core');
    const loaded = Object.keys(require.cache);
    console.log(JSON.stringify({
      exports: Object.keys(core).sort(),
      instrumentation: loaded.some((file) => file.includes('@opentelemetry/instrumentation')),
      semconv: loaded.some((file) => file.includes('semantic-conventions')),
      policy: loaded.some((file) => file.endsWith('policy.js')),
    }));`;
  const printed = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: join(__dirname, '..'), encoding: 'utf8' })) as Record<string, unknown>;
  expect(printed).toMatchObject({ instrumentation: false, semconv: false, policy: false });
  expect(printed.exports).toEqual(expect.arrayContaining(['envAdapter', 'extractContextFrom', 'injectContext', 'kafkaHeadersAdapter', 'copyForInjection']));
});

test('the main entry exports everything the core entry does', () => {
  const core = coreEntry;
  const main = mainEntry;
  for (const name of Object.keys(core)) expect(main).toHaveProperty(name, (core as Record<string, unknown>)[name]);
});

// The names are a contract with Jobs already running and with the READMEs: pinned here once.
test('the job-side env names keep their spelling', () => {
  expect([coreEntry.RUN_NAME_ENV, coreEntry.K8S_NAMESPACE_ENV, coreEntry.K8S_JOB_NAME_ENV, coreEntry.K8S_POD_NAME_ENV]).toEqual([
    'THREADLINE_RUN_NAME',
    'THREADLINE_K8S_NAMESPACE',
    'THREADLINE_K8S_JOB_NAME',
    'THREADLINE_K8S_POD_NAME',
  ]);
});
