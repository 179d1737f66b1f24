/*
 * Incubating semantic-convention names threadline uses. OpenTelemetry advises copying incubating
 * names rather than loading `@opentelemetry/semantic-conventions/incubating` at run time: that
 * entry point is over 1 MB of JavaScript and measurably slows process start-up. Stable names are
 * imported from `@opentelemetry/semantic-conventions` itself. Values match semconv 1.45.
 */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system' as const;
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name' as const;
export const ATTR_MESSAGING_DESTINATION_PARTITION_ID = 'messaging.destination.partition.id' as const;
export const ATTR_MESSAGING_DESTINATION_TEMPORARY = 'messaging.destination.temporary' as const;
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type' as const;
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name' as const;
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count' as const;
export const ATTR_MESSAGING_MESSAGE_ID = 'messaging.message.id' as const;
export const ATTR_MESSAGING_MESSAGE_CONVERSATION_ID = 'messaging.message.conversation_id' as const;
export const ATTR_MESSAGING_MESSAGE_BODY_SIZE = 'messaging.message.body.size' as const;
export const ATTR_MESSAGING_CLIENT_ID = 'messaging.client.id' as const;
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name' as const;
export const ATTR_MESSAGING_KAFKA_MESSAGE_KEY = 'messaging.kafka.message.key' as const;
export const ATTR_MESSAGING_KAFKA_MESSAGE_TOMBSTONE = 'messaging.kafka.message.tombstone' as const;
export const ATTR_MESSAGING_KAFKA_OFFSET = 'messaging.kafka.offset' as const;
export const ATTR_MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY = 'messaging.rabbitmq.destination.routing_key' as const;
export const ATTR_MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG = 'messaging.rabbitmq.message.delivery_tag' as const;
export const ATTR_AWS_SQS_QUEUE_URL = 'aws.sqs.queue.url' as const;
export const ATTR_PROCESS_PID = 'process.pid' as const;
export const ATTR_PROCESS_EXIT_CODE = 'process.exit.code' as const;
export const ATTR_PROCESS_EXECUTABLE_NAME = 'process.executable.name' as const;
export const ATTR_PROCESS_COMMAND = 'process.command' as const;

export const MESSAGING_SYSTEM_VALUE_KAFKA = 'kafka' as const;
export const MESSAGING_SYSTEM_VALUE_RABBITMQ = 'rabbitmq' as const;
export const MESSAGING_SYSTEM_VALUE_AWS_SQS = 'aws_sqs' as const;
