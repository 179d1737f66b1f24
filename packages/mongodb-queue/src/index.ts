export {
  MongoQueueInstrumentation,
  withDocumentContext,
  SUPPORTED_VERSIONS,
  COLLECTIONS_ENV,
  MESSAGING_SYSTEM,
} from './instrumentation';
export type { WithDocumentContextOptions } from './instrumentation';
export type {
  CollectionMatcher,
  MongoQueueDocument,
  MongoQueueInstrumentationConfig,
  MongoQueueMessage,
} from './types';
