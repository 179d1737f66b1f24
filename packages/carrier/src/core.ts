// The adapters and the inject/extract helpers, without the messaging span policy: this entry
// (`@threadline/carrier/core`) does not load @opentelemetry/instrumentation or the semantic
// conventions, for code where start-up time counts (the register hook joining a trace from env).
export {
  recordAdapter,
  headersAdapter,
  kafkaHeadersAdapter,
  amqpHeadersAdapter,
  sqsAttributesAdapter,
  typedAttributesAdapter,
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
export { copyForInjection } from './copy';
export { RUN_NAME_ENV, K8S_NAMESPACE_ENV, K8S_JOB_NAME_ENV, K8S_POD_NAME_ENV, K8S_MESSAGING_SYSTEM } from './job-env';
export { SENT_AT_FIELD, PIPELINE_TRACESTATE_KEY, writeSentAt, readSentAt, pipelineOrigin, withPipelineOrigin, metricDestinationName, MessagingMetrics } from './metrics';
