// The shared parts of the pull-shape fixtures (packages/*/test/fixtures/pull): the app under the
// register hook loads this as `require('@threadline/testing/pull-fixture')` (CommonJS). Every
// message is produced in its own root span `produce:<form>:<index>`; the one at index 1 carries a
// garbage context and has no producer span. Each message's work is a `work:<body>` span with an
// `inner:<body>` child started after an await. None of this is threadline code: the app must
// keep its traces through the instrumentation alone.
import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';

/** The fixtures' tracer (`fixture`). */
export const tracer = trace.getTracer('fixture');

/** Messages per form; the one at index 1 is the bad one. */
export const COUNT = 3;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A marker span, started and ended at once in the current context: `after:<form>`, `done:<form>`. */
export function mark(name: string): void {
  tracer.startSpan(name).end();
}

/** One message's work: `work:<body>`, with a child `inner:<body>` made after an await. */
export async function work(body: string): Promise<void> {
  await tracer.startActiveSpan(`work:${body}`, async (span) => {
    await sleep(2);
    // A child made after an await: the context survives inside the work.
    tracer.startSpan(`inner:${body}`).end();
    span.end();
  });
}

/** One message to send: `bad` is true for the one with a garbage context (index 1). */
export interface PullMessage {
  form: string;
  index: number;
  body: string;
  bad: boolean;
}

/**
 * Sends COUNT messages per form, in order: each good one inside its own root span
 * `produce:<body>`, the bad one outside any span (the sender adds the garbage context).
 */
export async function produceAll(forms: readonly string[], send: (message: PullMessage) => unknown): Promise<void> {
  for (const form of forms) {
    for (let index = 0; index < COUNT; index++) {
      const body = `${form}:${index}`;
      if (index === 1) {
        // Bad input: a garbage context, sent outside any span.
        await context.with(ROOT_CONTEXT, () => send({ form, index, body, bad: true }));
        continue;
      }
      await tracer.startActiveSpan(`produce:${body}`, { root: true }, async (span) => {
        await send({ form, index, body, bad: false });
        span.end();
      });
    }
  }
}

/**
 * The loop forms over a received array that kafkajs and SQS share, each doing `work` for every
 * message's body: `for…of`, `forEach` (work collected, then awaited) and `Promise.all(map(async))`.
 */
/** The loops a consumer writes over a batch of received messages. */
export type LoopForm = 'forof' | 'forEach' | 'map' | 'promiseAllMap';

/**
 * Each loop form over received messages: `work(body)` per message, except `map`, whose callback is
 * synchronous and only marks `work:<body>` (the callback must run in the message's context).
 */
export function loopForms<T>(bodyOf: (message: T) => string): Record<LoopForm, (messages: T[]) => Promise<void>> {
  return {
    async forof(messages) {
      for (const message of messages) await work(bodyOf(message));
    },
    async forEach(messages) {
      const pending: Promise<void>[] = [];
      messages.forEach((message) => {
        pending.push(work(bodyOf(message)));
      });
      await Promise.all(pending);
    },
    async map(messages) {
      const bodies = messages.map((message) => {
        mark(`work:${bodyOf(message)}`);
        return bodyOf(message);
      });
      if (bodies.length !== messages.length) throw new Error('map changed the length');
    },
    async promiseAllMap(messages) {
      await Promise.all(messages.map(async (message) => work(bodyOf(message))));
    },
  };
}

/**
 * Runs a fixture's `main(library)`; a failure prints `FIXTURE FAILED <stack>` on stderr (what the
 * tests look for) and sets exit code 1. Never rejects.
 */
export function runMain<T>(main: (library: T) => Promise<unknown>, library: T): Promise<void> {
  return new Promise<unknown>((resolve) => resolve(main(library))).then(
    () => undefined,
    (error: unknown) => {
      process.stderr.write(`FIXTURE FAILED ${error && (error as { stack?: unknown }).stack}\n`);
      process.exitCode = 1;
    },
  );
}
