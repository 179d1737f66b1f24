import type { Outcome } from '@threadline/carrier';
/** Loose shapes: the instrumentation must survive any input the SDK itself would accept or reject. */
export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;
export type LooseObject = Record<string | symbol, unknown>;
/** A class as exported by the patched module. */
export type LooseClass = (new (...args: never[]) => unknown) & { prototype: LooseObject };

/** The SQS commands threadline instruments. */
export type SqsOperation = 'SendMessage' | 'SendMessageBatch' | 'ReceiveMessage';

/** `@aws-sdk/client-sqs` exports (CJS `module.exports`, or the ESM namespace from import-in-the-middle). */
export interface ClientSqsModule {
  SQSClient?: LooseClass;
  default?: ClientSqsModule;
  [key: string]: unknown;
}

/** `sqs-consumer` exports. */
export interface SqsConsumerModule {
  Consumer?: LooseClass;
  default?: SqsConsumerModule;
  [key: string]: unknown;
}

/** The part of an `SQSClient`'s resolved config threadline reads. */
export interface SqsClientLike {
  config?: { endpoint?: unknown; isCustomEndpoint?: unknown };
}

/** The part of an sqs-consumer `Consumer` threadline reads. */
export interface SqsConsumerLike {
  queueUrl?: unknown;
  /** The SQSClient it polls with. */
  sqs?: unknown;
}

/** Where a queue lives, parsed once from its URL. */
export interface QueueInfo {
  /** The queue name: the URL's last path segment. */
  name: string;
  /** The URL without credentials, query or fragment; undefined when it is not a URL. */
  url?: string;
  address?: string;
  port?: number;
}

/** One SDK call as threadline runs it: the command actually sent, and what to do when it settles. */
export interface CallPlan {
  command: unknown;
  run<R>(fn: () => R): R;
  /** Called once when the call ends. Never throws. */
  settle(outcome: Outcome): void;
}

/** One ReceiveMessage call, as its settle records it. */
export interface Receive {
  queue: QueueInfo;
  /** The metrics' destination name (temporary queues collapsed). */
  metricQueue: string;
  /** sqs-consumer's own receive: its handlers make the spans and count the messages. */
  byConsumer: boolean;
  /** When the call began (epoch ms), the start of a span made once the response is back. */
  startTime: number;
  /** `metrics.start()` when the call began; 0 with metrics off. */
  startedAt: number;
  /** threadline asked for SentTimestamp and removes it from what the caller gets. */
  stripSentTimestamp: boolean;
}
