export { SqsInstrumentation, SUPPORTED_VERSIONS, SUPPORTED_SQS_CONSUMER_VERSIONS } from './instrumentation';
export { withMessageContext, snsAttributesGetter, snsEnvelopeAttributes } from './sqs-message';
export type {
  SqsInstrumentationConfig,
  AttributeBudgetPolicy,
  SqsHookMessage,
  SqsReceivedMessage,
  SqsCommandInput,
} from './types';
