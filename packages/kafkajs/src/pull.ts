import type { Attributes } from '@opentelemetry/api';
import { callSite, followArray, followWhile, kafkaHeadersAdapter, warnUnfollowed, type FollowedArray, type MessagingScope, type MessagingSpanPolicy } from '@threadline/carrier';
import type { KafkaMessage } from 'kafkajs';
import type { LooseObject } from './internal-types';
import type { KafkaJsHookMessage } from './types';

const ADVICE = "wrap each message's work in withMessageContext(message, fn) from @threadline/kafkajs";
const SHAPE = 'kafkajs eachBatch batch.messages';

/** Where `consumer.run` was called: the once-per-site warning names it. Captured once per run(). */
export function runSite(): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, runSite);
  return callSite(holder.stack);
}

/**
 * Runs an eachBatch handler with `batch.messages` followed: for…of, forEach and map over it run
 * each message's work in a `process {topic}` span (its parent the message's producer, a link to
 * the batch span), or, in propagation-only mode, in the message's context alone.
 */
export function runFollowingBatch(
  policy: MessagingSpanPolicy<KafkaJsHookMessage>,
  payload: unknown,
  batchScope: MessagingScope,
  attributesFor: (message: KafkaMessage, partition: number) => Attributes | undefined,
  handler: unknown,
  site: string,
  call: () => unknown,
): unknown {
  let followed: FollowedArray | undefined;
  try {
    const batch = (payload as { batch?: LooseObject } | undefined)?.batch;
    const messages = batch?.messages;
    if (Array.isArray(messages) && messages.length > 0) {
      const topic = String(batch!.topic);
      const partition = batch!.partition as number;
      const batchSpan = batchScope.span;
      const links = batchSpan === undefined ? undefined : [{ context: batchSpan.spanContext() }];
      followed = followArray(
        messages as KafkaMessage[],
        (message) =>
          typeof message === 'object' && message !== null
            ? policy.startProcess({
                destination: topic,
                carrier: message.headers as LooseObject | undefined,
                getter: kafkaHeadersAdapter,
                attributes: attributesFor(message, partition),
                message: { kind: 'message', topic, partition, message },
                links,
              })
            : undefined,
        { shape: SHAPE, advice: ADVICE, siteKey: handler as object },
      );
    }
  } catch {
    followed = undefined;
  }
  return followWhile(followed, call, (done) => {
    if (!done.iterated) warnUnfollowed(handler as object, `${SHAPE} (not looped with for…of, forEach or map)`, ADVICE, site);
  });
}
