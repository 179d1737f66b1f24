import { context, type Attributes } from '@opentelemetry/api';
import {
  ATTR_MESSAGING_MESSAGE_ID,
  beginPull,
  DEFAULT_PULL_TIMEOUT_MS,
  followArray,
  FollowedContext,
  MessagingScope,
  warnUnfollowed,
  type MessagingSpanPolicy,
} from '@threadline/carrier';
import { messageCarrier, messageCarrierGetter } from './sqs-message';
import type { SqsHookMessage, SqsReceivedMessage } from './types';

const ADVICE = "wrap each message's work in withMessageContext(message, fn) from @threadline/sqs";
const SHAPE = 'SQS ReceiveMessage Messages';
const SETTLING_COMMANDS = new Set(['DeleteMessageCommand', 'ChangeMessageVisibilityCommand']);

/**
 * Called when ReceiveMessage is sent: attaches the context the code after `await send(…)` runs in
 * (and ends what the previous receive in this async chain handed over).
 */
export function beginReceive(client: unknown): FollowedContext | undefined {
  return beginPull(typeof client === 'object' && client !== null ? client : beginReceive, SHAPE, ADVICE);
}

/** DeleteMessage or ChangeMessageVisibility in the chain that received a message: its work is over. */
export function noteSettled(command: unknown): void {
  try {
    const name = (command as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    if (typeof name !== 'string' || !SETTLING_COMMANDS.has(name)) return;
    const active = context.active();
    if (active instanceof FollowedContext) active.release();
  } catch {
    // Bookkeeping only: the command goes as it is.
  }
}

/**
 * The response arrived. One message: its `process` span's context is what the code after the
 * `await` runs in, until DeleteMessage/ChangeMessageVisibility, the next receive, or the safety
 * timer. Several: for…of/forEach/map over `Messages` run each message's
 * work in a `process` span (its parent the producer, a link to the `receive` span).
 */
export function followReceived(
  policy: MessagingSpanPolicy<SqsHookMessage>,
  slot: FollowedContext | undefined,
  output: unknown,
  messages: SqsReceivedMessage[],
  single: MessagingScope | undefined,
  batch: MessagingScope | undefined,
  destination: string,
  attributes: Attributes,
  snsEnvelope: boolean,
  client: unknown,
): void {
  const list = (output as { Messages?: unknown }).Messages as SqsReceivedMessage[];
  if (single !== undefined) {
    // The span marks the delivery and ends now (as without following), so an app that exits
    // without deleting loses nothing; the message's context stays in effect for the work.
    single.end();
    if (slot !== undefined) slot.resolve(single, DEFAULT_PULL_TIMEOUT_MS, false, true);
  }
  const links = batch?.span === undefined ? undefined : [{ context: batch.span.spanContext() }];
  const followed = followArray(
    list,
    (message) => {
      // One message: the loop runs in its (already ended) process span's context.
      if (single !== undefined) return new MessagingScope(undefined, single.context);
      if (typeof message !== 'object' || message === null) return undefined;
      const own: Attributes = { ...attributes };
      if (typeof message.MessageId === 'string') own[ATTR_MESSAGING_MESSAGE_ID] = message.MessageId;
      return policy.startProcess({
        destination,
        carrier: messageCarrier(message, snsEnvelope),
        getter: messageCarrierGetter,
        message,
        attributes: own,
        links,
      });
    },
    { shape: SHAPE, advice: ADVICE, siteKey: typeof client === 'object' && client !== null ? client : followReceived },
  );
  const release = () => {
    followed.release();
    if (single === undefined && !followed.iterated && messages.length > 1) {
      warnUnfollowed(
        typeof client === 'object' && client !== null ? client : followReceived,
        `${SHAPE} (a batch not looped with for…of, forEach or map)`,
        ADVICE,
      );
    }
  };
  if (slot !== undefined) slot.onRelease = release;
  else setTimeout(release, DEFAULT_PULL_TIMEOUT_MS).unref?.();
}
