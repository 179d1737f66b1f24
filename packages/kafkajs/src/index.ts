export { KafkaJsInstrumentation, withMessageContext, SUPPORTED_VERSIONS, DEFAULT_MAX_MESSAGE_BYTES } from './instrumentation';
export type {
  KafkaJsInstrumentationConfig,
  KafkaJsHookMessage,
  KafkaJsSendInfo,
  KafkaJsReceivedMessage,
  KafkaJsReceivedBatch,
} from './types';
