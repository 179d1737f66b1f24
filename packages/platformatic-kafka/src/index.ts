export { PlatformaticKafkaInstrumentation, SUPPORTED_VERSIONS, isSupportedNode } from './instrumentation';
export { withMessageContext } from './pull';
export type {
  PlatformaticKafkaInstrumentationConfig,
  PlatformaticKafkaHookMessage,
  PlatformaticKafkaSendInfo,
  PlatformaticKafkaReceivedMessage,
} from './types';
