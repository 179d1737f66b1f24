// The README's receive loop, type-checked against the SDK's own types: withMessageContext must take
// a Message from ReceiveMessageCommand's output without a cast.
import type { Message, ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';
import { context, trace } from '@opentelemetry/api';
import { withMessageContext } from '../src';

test("withMessageContext takes the SDK's Message type as it comes from ReceiveMessage", () => {
  const output: ReceiveMessageCommandOutput = {
    $metadata: {},
    Messages: [{ MessageId: 'm-1', Body: 'b', Attributes: { SentTimestamp: '1' }, MessageAttributes: { traceparent: { DataType: 'String', StringValue: 'garbage' } } }],
  };
  const seen: Array<string | undefined> = [];
  for (const message of output.Messages ?? []) {
    const typed: Message = message;
    seen.push(withMessageContext(typed, () => trace.getSpanContext(context.active())?.traceId));
  }
  // A garbage traceparent joins no trace; the point of this file is that it compiles without a cast.
  expect(seen).toEqual([undefined]);
});
