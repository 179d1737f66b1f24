export {
  KafkaJsInstrumentation,
  SUPPORTED_VERSIONS,
  ConfluentKafkaInstrumentation,
  CONFLUENT_KAFKA_SUPPORTED_VERSIONS,
  CONFLUENT_KAFKA_SCOPE_NAME,
} from './instrumentation';
export { withMessageContext, DEFAULT_MAX_MESSAGE_BYTES } from './kafka-message';
export type {
  KafkaJsInstrumentationConfig,
  ConfluentKafkaInstrumentationConfig,
  KafkaJsHookMessage,
  KafkaJsSendInfo,
  KafkaJsReceivedMessage,
  KafkaJsReceivedBatch,
} from './types';
