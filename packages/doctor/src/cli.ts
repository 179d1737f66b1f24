#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { diagnose } from './analyze';
import { formatLatencyReport, formatReport } from './format';
import { latency } from './latency';
import { DoctorInputError, readSpans } from './read';
import type { DoctorOptions } from './types';

/** Exit codes of `threadline-doctor`. */
export const EXIT_CLEAN = 0;
export const EXIT_GAPS = 1;
export const EXIT_BAD_INPUT = 2;

const USAGE = `Usage: threadline-doctor [files|folders|-] [options]
       threadline-doctor latency [files|folders|-] [--json]

Reads OTLP JSON spans (one export request, newline-delimited requests as the
OpenTelemetry Collector file exporter writes them, or a JSON array of flat spans)
from files, folders (*.json, *.jsonl, *.ndjson, recursively) or stdin (-, or no
argument with piped input) and reports where traces break.

latency: instead of the report, the time spans show per hop (time in queue and
processing time, p50 and p99, messages) and end to end per trace. Takes --json
only. (A file named latency: pass it as ./latency.)

Options:
  --json                   print the report as JSON
  --window-ms N            time a consumer may start after a send ends and still match it (default 10000)
  --max-trace-ms N         traces longer than this are never-ending (default 600000)
  --root-ratio R           flag a service whose consumer spans are new traces in a greater share (default 0.5)
  --max-loop-children N    consumer spans under one span before it is a poll loop (default 10)
  --clock-skew-ms N        clock difference tolerated between processes (default 100)
  -h, --help               show this text
  -v, --version            show the version

Exit codes: 0 clean (latency: read), 1 gaps found, 2 bad input.
`;

const NUMBER_OPTIONS = {
  'window-ms': 'windowMs',
  'max-trace-ms': 'maxTraceMs',
  'root-ratio': 'rootRatio',
  'max-loop-children': 'maxLoopChildren',
  'clock-skew-ms': 'clockSkewMs',
} as const satisfies Record<string, keyof DoctorOptions>;

export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

class UsageError extends Error {}

/** `report`: the default view (where traces break); `latency`: per-hop and end-to-end times. */
type View = 'report' | 'latency';

function parse(argv: readonly string[]): { view: View; inputs: string[]; json: boolean; help: boolean; version: boolean; options: DoctorOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        ...Object.fromEntries(Object.keys(NUMBER_OPTIONS).map((name) => [name, { type: 'string' as const }])),
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const options: DoctorOptions = {};
  for (const [flag, key] of Object.entries(NUMBER_OPTIONS)) {
    const raw = values[flag];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value)) {
      throw new UsageError(`--${flag} expects a number, got '${String(raw)}'`);
    }
    options[key] = value;
  }
  const view: View = parsed.positionals[0] === 'latency' ? 'latency' : 'report';
  const inputs = view === 'latency' ? parsed.positionals.slice(1) : parsed.positionals;
  if (view === 'latency') {
    const given = Object.keys(NUMBER_OPTIONS).find((flag) => values[flag] !== undefined);
    if (given !== undefined) throw new UsageError(`--${given} does not apply to the latency view`);
  }
  return { view, inputs, json: values.json === true, help: values.help === true, version: values.version === true, options };
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = process): Promise<number> {
  try {
    const { view, inputs, json, help, version: showVersion, options } = parse(argv);
    if (help) {
      io.stdout.write(USAGE);
      return EXIT_CLEAN;
    }
    if (showVersion) {
      io.stdout.write(`${version()}\n`);
      return EXIT_CLEAN;
    }
    if (inputs.length === 0) {
      if (io.stdin.isTTY) throw new UsageError('no input: name files or folders, or pipe spans into stdin (-)');
      inputs.push('-');
    }
    const { spans, files } = await readSpans(inputs, io.stdin);
    if (spans.length === 0) {
      throw new DoctorInputError(`no spans found in ${files.join(', ')}`);
    }
    if (view === 'latency') {
      const found = latency(spans);
      io.stdout.write(json ? `${JSON.stringify(found, null, 2)}\n` : formatLatencyReport(found));
      return EXIT_CLEAN;
    }
    const report = diagnose(spans, options);
    io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.clean ? EXIT_CLEAN : EXIT_GAPS;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`threadline-doctor: ${error.message}\n\n${USAGE}`);
    } else if (error instanceof DoctorInputError || error instanceof RangeError) {
      io.stderr.write(`threadline-doctor: ${error.message}\n`);
    } else {
      io.stderr.write(`threadline-doctor: could not read the input: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    return EXIT_BAD_INPUT;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
