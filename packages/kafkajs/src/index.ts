export { KafkaJsInstrumentation, SUPPORTED_VERSIONS } from './instrumentation';
export { withMessageContext, DEFAULT_MAX_MESSAGE_BYTES } from './kafka-message';
export type {
  KafkaJsInstrumentationConfig,
  KafkaJsHookMessage,
  KafkaJsSendInfo,
  KafkaJsReceivedMessage,
  KafkaJsReceivedBatch,
} from './types';
