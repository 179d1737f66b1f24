export { MongoQueueInstrumentation, SUPPORTED_VERSIONS, COLLECTIONS_ENV, MESSAGING_SYSTEM } from './instrumentation';
export { withDocumentContext } from './document-context';
export type { WithDocumentContextOptions } from './document-context';
export type {
  CollectionMatcher,
  MongoQueueDocument,
  MongoQueueInstrumentationConfig,
  MongoQueueMessage,
} from './types';
