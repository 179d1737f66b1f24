export { AmqplibInstrumentation, SUPPORTED_VERSIONS } from './instrumentation';
export { DEFAULT_EXCHANGE } from './destination';
export { DEFAULT_MAX_UNSETTLED_SPANS, DEFAULT_UNSETTLED_TIMEOUT_MS, ATTR_SETTLEMENT } from './unsettled';
export { withMessageContext } from './pull';
export type { Settlement } from './unsettled';
export type { AmqplibInstrumentationConfig, AmqplibMessage } from './types';
