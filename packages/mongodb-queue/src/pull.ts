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
 * The claimed document's span stays open as what the code after the `await` runs in, until the
 * next claim in this async chain, the first withDocumentContext call for it, or the safety timer.
 */
export function followClaim(slot: FollowedContext | undefined, pending: PendingDelivery): void {
  if (slot === undefined || pending.scope.isEnded) return;
  if (pending.timer !== undefined) {
    clearImmediate(pending.timer);
    pending.timer = undefined;
  }
  slot.resolve(pending.scope, DEFAULT_PULL_TIMEOUT_MS, true);
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
