import {
  beginPull,
  DEFAULT_PULL_TIMEOUT_MS,
  followArray,
  type FollowedArray,
  type FollowedContext,
  type MessagingScope,
} from '@threadline/carrier';
import type { PendingDelivery } from './internal-types';

const ADVICE = "wrap the document's work in withDocumentContext(document, fn) from @threadline/mongodb-queue";

/** Called when a claim (`findOneAndUpdate`, …) is: attaches the context the code after its `await` runs in. */
export function beginClaim(collection: object): FollowedContext | undefined {
  return beginPull(collection, 'mongodb-queue claim', ADVICE);
}

/**
 * The claimed document's context is what the code after the `await` runs in, until the next claim
 * in this async chain or the safety timer. Its span keeps its own timing (the end of the event-loop
 * turn, or the first withDocumentContext call), so a last claim before exit is never lost.
 */
export function followClaim(slot: FollowedContext | undefined, pending: PendingDelivery): void {
  if (slot === undefined) return;
  slot.resolve(pending.scope, DEFAULT_PULL_TIMEOUT_MS, false, true);
}

/**
 * `toArray()` of an opted-in collection's cursor: for…of, forEach and map over the documents run
 * each one's work in a `process` span (its parent the document's producer). Followed until the
 * safety timer (there is no handler boundary to end it).
 */
export function followDocuments(documents: unknown[], start: (document: unknown) => MessagingScope | undefined, cursor: object): FollowedArray {
  const followed = followArray(documents, (document) => start(document), { shape: 'mongodb-queue find().toArray() documents', advice: ADVICE, siteKey: cursor });
  setTimeout(() => followed.release(), DEFAULT_PULL_TIMEOUT_MS).unref?.();
  return followed;
}
