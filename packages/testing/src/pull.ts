/// <reference types="jest" />
// The runner of the pull-consumer ("follow the work") integration tests: one collector per test
// file, and per case (ESM and CJS in spans mode, one entry in propagation-only mode) the fixture
// run under the register hook, its exit checked, and its spans collected for the file's checks.
import { join } from 'node:path';
import { startCollector, type CollectedSpan, type SpanCollector } from './collector';
import { runFixture, type FixtureResult } from './fixtures';

export type PullFile = 'pull.mjs' | 'pull.cjs';
export type PullMode = 'spans' | 'propagation-only';

/** One run of a pull fixture: which entry, in which `THREADLINE_MODE`. */
export interface PullCase {
  title: string;
  file: PullFile;
  mode: PullMode;
}

/** What a case's checks get: the fixture's result and its service's spans. */
export interface PullRun extends PullCase {
  serviceName: string;
  result: FixtureResult;
  /** The spans of this run's service, once every span named in `until` arrived. */
  spans: CollectedSpan[];
  /** The names of the `produce:` spans among them. */
  producers: string[];
}

export interface PullSuite {
  /** The describe block's title; ` ($title)` is appended. */
  describe: string;
  /** The test's title. */
  test: string;
  /** The folder holding `pull.mjs` and `pull.cjs`. */
  dir: string;
  /** The service name's prefix: `<service>-<file>-<mode>-<pid>`. */
  service: string;
  /** The entry run in propagation-only mode (both run in spans mode). */
  propagationOnly: PullFile;
  /** The fixture's environment for a case (`THREADLINE_MODE` is added). */
  env(pullCase: PullCase): Record<string, string>;
  /** Span names that must all have arrived before the checks run. */
  until: readonly string[];
  /** Lines the fixture's stdout must contain. */
  stdout?: readonly string[];
  /** Whether the fixture must exit with 0. @default true */
  exitZero?: boolean;
  /** Runs before the collector starts (a broker probe). */
  before?: () => Promise<void>;
}

/** ESM and CJS in spans mode, then `propagationOnly` in propagation-only mode. */
export function pullCases(propagationOnly: PullFile): PullCase[] {
  return [
    { title: 'ESM, spans', file: 'pull.mjs', mode: 'spans' },
    { title: 'CJS, spans', file: 'pull.cjs', mode: 'spans' },
    { title: `${propagationOnly === 'pull.mjs' ? 'ESM' : 'CJS'}, propagation-only`, file: propagationOnly, mode: 'propagation-only' },
  ];
}

/**
 * Declares the pull tests of one transport: a collector for the file, and one test per case of
 * `pullCases(suite.propagationOnly)` that runs the fixture (90 s at most), expects no
 * `FIXTURE FAILED` on stderr, exit code 0 and the `stdout` lines, waits for the `until` spans of
 * its service and hands them to `check`.
 */
export function describePullFixture(suite: PullSuite, check: (run: PullRun) => void | Promise<void>): void {
  let collector: SpanCollector | undefined;
  beforeAll(async () => {
    await suite.before?.();
    collector = await startCollector();
  });
  afterAll(() => collector?.close());

  describe.each(pullCases(suite.propagationOnly))(`${suite.describe} ($title)`, (pullCase) => {
    test(suite.test, async () => {
      const spanCollector = collector!;
      const serviceName = `${suite.service}-${pullCase.file}-${pullCase.mode}-${process.pid}`;
      const result = await runFixture(join(suite.dir, pullCase.file), {
        collector: spanCollector,
        serviceName,
        env: { ...suite.env(pullCase), THREADLINE_MODE: pullCase.mode },
        timeoutMs: 90000,
      });
      expect(result.stderr).not.toContain('FIXTURE FAILED');
      if (suite.exitZero !== false) expect(result.code).toBe(0);
      for (const line of suite.stdout ?? []) expect(result.stdout).toContain(line);
      const mine = (all: readonly CollectedSpan[]) => all.filter((span) => span.serviceName === serviceName);
      const spans = mine(await spanCollector.waitFor((all) => suite.until.every((name) => mine(all).some((span) => span.name === name))));
      const producers = spans.filter((span) => span.name.startsWith('produce:')).map((span) => span.name);
      await check({ ...pullCase, serviceName, result, spans, producers });
    });
  });
}
