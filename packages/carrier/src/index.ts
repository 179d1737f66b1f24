export {
  recordAdapter,
  headersAdapter,
  kafkaHeadersAdapter,
  kafkaHeadersAdapterFor,
  amqpHeadersAdapter,
  sqsAttributesAdapter,
  typedAttributesAdapter,
  documentFieldAdapter,
  envAdapter,
  k8sEnvVarAdapter,
  envVarName,
  SQS_MAX_MESSAGE_ATTRIBUTES,
  DEFAULT_DOCUMENT_CONTEXT_FIELD,
  injectCurrentContext,
  extractContext,
  withExtractedContext,
  injectContext,
  extractContextFrom,
  carrierHasContext,
  carriedSpanContext,
  propagationFields,
  copyForInjection,
} from './core';
export type { KafkaHeaderEncoding } from './adapters';
export type { CarrierAdapter, EnvVar, SqsMessageAttributes, SqsMessageAttributeValue, InjectOptions, InjectOutcome } from './core';
export { MessagingSpanPolicy, MessagingScope, recordSpanError } from './policy';
export {
  MessagingMetrics,
  disabledMetrics,
  metricDestinationName,
  parseEpochMs,
  elapsedSeconds,
  writeSentAt,
  readSentAt,
  readTraceStateHeader,
  pipelineOrigin,
  withPipelineOrigin,
  SENT_AT_FIELD,
  PIPELINE_TRACESTATE_KEY,
  CLOCK_SKEW_TOLERANCE_MS,
  MAX_PLAUSIBLE_AGE_MS,
  METRIC_SENT_MESSAGES,
  METRIC_CONSUMED_MESSAGES,
  METRIC_OPERATION_DURATION,
  METRIC_PROCESS_DURATION,
  METRIC_QUEUE_TIME,
  METRIC_PIPELINE_DURATION,
  METRIC_KAFKA_CONSUMER_LAG,
  ATTR_THREADLINE_TIME_SOURCE,
} from './metrics';
export type { TimeSource, TimestampProblem, DestinationNameOptions, ReceivedMessage } from './metrics';
export { aggregateHistogramsLocally, localHistogramScopes, SERIES_LIMIT } from './local-series';
export type { LocalHistogram, LocalHistogramPoint, LocalHistogramScope, MeterScope } from './local-series';
export { isThenable, runAndEnd, runSettled, runTimed, settleWhen, settlingCallback, endScope, errorType } from './run';
export type { Outcome, Settle, SettleOptions, RunAndEndOptions } from './run';
export { MESSAGING_ENV_OPTIONS, envBoolean, envList, envOneOf, envPositiveInteger, envPositiveNumber, readEnvOptions, resolveEnvOptions } from './env-options';
export type { EnvOption, EnvOptionTable, EnvParser } from './env-options';
export { RUN_NAME_ENV, K8S_NAMESPACE_ENV, K8S_JOB_NAME_ENV, K8S_POD_NAME_ENV, K8S_MESSAGING_SYSTEM } from './core';
export { cloneWith, forwarding, kafkaClientAttributes, kafkaRecordAttributes, kafkaServerAttributes } from './kafka';
export type { KafkaRecordLike } from './kafka';
export { packageInfo } from './package-info';
export { WarnOnce } from './warn-once';
export { followArray, followWhile, beginPull, FollowedContext, contextAttach, warnUnfollowed, callSite, DEFAULT_PULL_TIMEOUT_MS, FOLLOWED_METHODS } from './follow';
export type { FollowedArray, FollowOptions, StartMessageScope } from './follow';
export type { SendOptions, ConsumeOptions, BatchOptions, MessagingSpanPolicyOptions, ConsumeMetricsOptions, BatchMetricsOptions } from './policy';
export type {
  InstrumentationMode,
  IncomingContextPolicy,
  MessagingHookInfo,
  MessagingInstrumentationConfig,
} from './types';
export {
  ATTR_MESSAGING_SYSTEM,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_DESTINATION_TEMPORARY,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_MESSAGE_CONVERSATION_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_CLIENT_ID,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_KAFKA_MESSAGE_KEY,
  ATTR_MESSAGING_KAFKA_MESSAGE_TOMBSTONE,
  ATTR_MESSAGING_KAFKA_OFFSET,
  ATTR_MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
  ATTR_MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG,
  ATTR_AWS_SQS_QUEUE_URL,
  ATTR_PROCESS_PID,
  ATTR_PROCESS_EXIT_CODE,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_COMMAND,
  MESSAGING_SYSTEM_VALUE_KAFKA,
  MESSAGING_SYSTEM_VALUE_RABBITMQ,
  MESSAGING_SYSTEM_VALUE_AWS_SQS,
} from './semconv';
