import { isMainThread } from 'node:worker_threads';
import type { Threadline } from './start';

const STARTED = Symbol.for('threadline.register.started');

function startOnce(): Threadline | undefined {
  const globals = globalThis as { [STARTED]?: Threadline | undefined };
  // --import and --require together, or a second copy of the package, must not start twice.
  if (STARTED in globals) return globals[STARTED];
  // Node also runs --require preloads in its ESM loader thread: bail out before loading anything.
  if (!isMainThread) return undefined;
  globals[STARTED] = undefined;
  if (process.env.OTEL_SDK_DISABLED === 'true') return undefined;
  // The bundled build of ./start (see bundle.mjs); one file loads much faster than hundreds.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  globals[STARTED] = (require('./start.bundle.js') as typeof import('./start')).start(process.env);
  return globals[STARTED];
}

/** The running set-up; undefined when tracing is disabled or set-up failed. */
export const threadline: Threadline | undefined = startOnce();
export { INSTRUMENTATIONS, selectInstrumentations } from './instrumentations';
export type { InstrumentationEntry } from './instrumentations';
export type { Threadline } from './start';
