import * as path from 'node:path';
import type { ChildProcessMethod } from './types';

type Options = Record<string, unknown>;

export interface OptionsSlot {
  /** The caller's options object; undefined when the call has none. */
  options: Options | undefined;
  /** The call's arguments with `options` in the options position. The caller's array is not changed. */
  withOptions(options: Options): unknown[];
}

const isOptions = (value: unknown): value is Options =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function placedAt(args: readonly unknown[], index: number, value: unknown): unknown[] {
  const next = args.slice();
  while (next.length < index) next.push(undefined);
  next[index] = value;
  return next;
}

function insertedAt(args: readonly unknown[], index: number, value: unknown): unknown[] {
  return [...args.slice(0, index), value, ...args.slice(index)];
}

/** The options argument at `index`; undefined when something of the wrong type is there (Node will reject the call). */
function slotAt(args: readonly unknown[], index: number): OptionsSlot | undefined {
  const value = args[index];
  if (value !== undefined && value !== null && !isOptions(value)) return undefined;
  return { options: value ?? undefined, withOptions: (options) => placedAt(args, index, options) };
}

function insertedSlot(args: readonly unknown[], index: number): OptionsSlot {
  return { options: undefined, withOptions: (options) => insertedAt(args, index, options) };
}

/**
 * Where a child_process call keeps its options, following Node's own argument rules, so that
 * adding options never changes how Node reads the rest of the call.
 */
export function locateOptions(method: ChildProcessMethod, args: readonly unknown[]): OptionsSlot | undefined {
  const second = args[1];
  switch (method) {
    case 'spawn':
    case 'spawnSync':
    case 'fork':
      // (file, args?, options?): an object in second place is the options.
      if (Array.isArray(second) || second === undefined || second === null) return slotAt(args, 2);
      return isOptions(second) ? slotAt(args, 1) : undefined;
    case 'exec':
    case 'execSync':
      // (command, options?, callback?)
      return typeof second === 'function' ? insertedSlot(args, 1) : slotAt(args, 1);
    case 'execFile':
    case 'execFileSync':
      // (file, args?, options?, callback?)
      if (typeof second === 'function') return insertedSlot(args, 1);
      if (isOptions(second)) return slotAt(args, 1);
      if (Array.isArray(second) || second === undefined || second === null) {
        return typeof args[2] === 'function' ? insertedSlot(args, 2) : slotAt(args, 2);
      }
      return undefined;
    default:
      return undefined;
  }
}

const MAX_NAME_LENGTH = 64;
const NODE_BINARY = /^node(js)?(\.exe)?$/i;
/** Node flags whose value is the next argument; enough to find the script in common command lines. */
const NODE_FLAGS_WITH_VALUE = new Set([
  '-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--env-file',
  '--input-type', '--inspect-port', '--title', '--redirect-warnings', '--stack-trace-limit', '--watch-path',
  '--test-reporter', '--test-reporter-destination', '--diagnostic-dir', '--report-dir', '--cpu-prof-dir',
  '--heap-prof-dir', '--icu-data-dir', '--openssl-config', '--unhandled-rejections', '--disable-warning',
]);
/** Flags after which there is no script: the program is inline. */
const NODE_INLINE_FLAGS = new Set(['-e', '--eval', '-p', '--print', '-i', '--interactive', '--test']);

function baseName(value: unknown): string | undefined {
  if (typeof value !== 'string' && !(value instanceof URL)) return undefined;
  const name = path.basename(String(value));
  return name === '' ? undefined : name.slice(0, MAX_NAME_LENGTH);
}

/** Splits a shell command into words (plain quotes understood); good enough for naming, never used to run anything. */
function shellWords(command: string): string[] {
  const words = [...command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((match) => match[1] ?? match[2] ?? match[3]);
  // Skip leading `NAME=value` assignments.
  let first = 0;
  while (first < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[first])) first++;
  return words.slice(first);
}

/** The program a call runs, and its arguments as far as they can be read. */
function program(method: ChildProcessMethod, args: readonly unknown[]): { file: unknown; argv: unknown[] } {
  if (method === 'exec' || method === 'execSync') {
    const words = typeof args[0] === 'string' ? shellWords(args[0]) : [];
    return { file: words[0], argv: words.slice(1) };
  }
  return { file: args[0], argv: Array.isArray(args[1]) ? args[1] : [] };
}

/** The short, low-cardinality name of what a call runs: the executable's (or forked module's) basename. */
export function commandName(method: ChildProcessMethod, args: readonly unknown[]): string {
  return baseName(program(method, args).file) ?? method;
}

function isNodeBinary(file: unknown): boolean {
  if (typeof file !== 'string') return false;
  return file === process.execPath || NODE_BINARY.test(path.basename(file));
}

/** The script a `node …` command line runs; undefined when it cannot be told. */
function nodeScript(argv: readonly unknown[]): string | undefined {
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (typeof arg !== 'string') return undefined;
    if (arg === '--') return baseName(argv[index + 1]);
    if (NODE_INLINE_FLAGS.has(arg)) return undefined;
    if (NODE_FLAGS_WITH_VALUE.has(arg)) {
      index++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return baseName(arg);
  }
  return undefined;
}

/**
 * The name the child's `run` span gets: the forked module, the script of a `node` command, or
 * the executable. Undefined for a Node child whose script cannot be read from its arguments;
 * the job side then falls back to its own script name.
 */
export function runName(method: ChildProcessMethod, args: readonly unknown[]): string | undefined {
  if (method === 'fork') return baseName(args[0]);
  const { file, argv } = program(method, args);
  if (isNodeBinary(file)) return nodeScript(argv);
  return baseName(file);
}
