export {
  recordAdapter,
  headersAdapter,
  kafkaHeadersAdapter,
  amqpHeadersAdapter,
  sqsAttributesAdapter,
  documentFieldAdapter,
  envAdapter,
  k8sEnvVarAdapter,
  envVarName,
  SQS_MAX_MESSAGE_ATTRIBUTES,
  DEFAULT_DOCUMENT_CONTEXT_FIELD,
} from './adapters';
export type { CarrierAdapter, EnvVar, SqsMessageAttributes, SqsMessageAttributeValue } from './adapters';
export {
  injectCurrentContext,
  extractContext,
  withExtractedContext,
  injectContext,
  extractContextFrom,
  carrierHasContext,
  carriedSpanContext,
  propagationFields,
} from './propagation';
export type { InjectOptions, InjectOutcome } from './propagation';
export { MessagingSpanPolicy, MessagingScope, recordSpanError, errorType } from './policy';
export type { SendOptions, ConsumeOptions, BatchOptions, MessagingSpanPolicyOptions } from './policy';
export type {
  InstrumentationMode,
  IncomingContextPolicy,
  MessagingHookInfo,
  MessagingInstrumentationConfig,
} from './types';
