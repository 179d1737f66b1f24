import { amqpHeadersAdapter, beginPull, DEFAULT_PULL_TIMEOUT_MS, FollowedContext, withExtractedContext, type MessagingScope } from '@threadline/carrier';

const ADVICE = "wrap the message's work in withMessageContext(message, fn) from @threadline/amqplib";
const SHAPE = 'amqplib channel.get';
/**
 * Runs `fn` inside the context carried by one message's headers, for the shapes that are not
 * followed by themselves (an index loop over messages kept for later, for example):
 * `withMessageContext(msg, () => handle(msg))`. A message without a valid context (or no message)
 * (or `false`, what an empty `get` returns) runs `fn` in the active context.
 */
export function withMessageContext<R>(message: { properties?: { headers?: unknown } | null } | false | null | undefined, fn: () => R): R {
  // The adapter reads nothing from a carrier that is not an object.
  return withExtractedContext((message ? message.properties?.headers : undefined) as Record<string, unknown> | undefined, fn, amqpHeadersAdapter);
}

/** The context handed over with each fetched message, so that ack/nack/reject ends it. */
const byMessage = new WeakMap<object, FollowedContext>();

/** Called when `channel.get` is: attaches the context the code after its `await` runs in. */
export function beginGet(channel: object): FollowedContext | undefined {
  return beginPull(channel, SHAPE, ADVICE);
}

/**
 * The fetched message's scope becomes what the code after `await channel.get()` runs in, until
 * the message is settled (its span ends then), the next get in this async chain, or, with noAck,
 * the safety timer. Returns true when it took over ending a noAck span.
 */
export function followFetched(slot: FollowedContext | undefined, scope: MessagingScope, message: object, autoAck: boolean, endNoAck: () => void): boolean {
  if (slot === undefined) return false;
  slot.resolve(scope, autoAck ? DEFAULT_PULL_TIMEOUT_MS : 0, false);
  byMessage.set(message, slot);
  if (autoAck) slot.onRelease = endNoAck;
  return autoAck;
}

/** ack/nack/reject of a fetched message: its work is over. */
export function settledFetched(message: unknown): void {
  if (typeof message !== 'object' || message === null) return;
  const slot = byMessage.get(message);
  if (slot === undefined) return;
  byMessage.delete(message);
  slot.release();
}
