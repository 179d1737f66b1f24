export {
  AmqplibInstrumentation,
  SUPPORTED_VERSIONS,
  DEFAULT_EXCHANGE,
  DEFAULT_MAX_UNSETTLED_SPANS,
  DEFAULT_UNSETTLED_TIMEOUT_MS,
  ATTR_SETTLEMENT,
} from './instrumentation';
export { withMessageContext } from './pull';
export type { Settlement } from './instrumentation';
export type { AmqplibInstrumentationConfig, AmqplibMessage } from './types';
