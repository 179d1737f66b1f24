import { SpanStatusCode, type DiagLogger } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { WarnOnce, type MessagingScope } from '@threadline/carrier';
import type { AmqpChannel } from './internal-types';

export const DEFAULT_MAX_UNSETTLED_SPANS = 1000;
export const DEFAULT_UNSETTLED_TIMEOUT_MS = 60_000;

/** How a consumer span's message was settled, recorded on the span. */
export const ATTR_SETTLEMENT = 'threadline.amqplib.settlement';
export type Settlement = 'ack' | 'nack' | 'reject' | 'channel_closed' | 'timeout' | 'evicted' | 'no_ack';

interface UnsettledEntry {
  channel: AmqpChannel;
  deliveryTag: number;
  scope: MessagingScope;
  deadline: number;
}

/** Ends a consumer span with how its message was settled (and the handler's failure, if any). Never throws. */
export function endSettled(scope: MessagingScope, settlement: Settlement, detail?: string, failure?: { error: unknown }): void {
  try {
    const span = scope.span;
    if (span !== undefined && !scope.isEnded) {
      span.setAttribute(ATTR_SETTLEMENT, settlement);
      if (settlement === 'nack' || settlement === 'reject' || settlement === 'channel_closed') {
        span.setAttribute(ATTR_ERROR_TYPE, settlement);
        span.setStatus({ code: SpanStatusCode.ERROR, message: detail ?? settlement });
      }
    }
  } finally {
    scope.end(failure?.error, failure !== undefined);
  }
}

/**
 * Consumer spans whose messages are not yet settled. Bounded twice: at most `max` entries (the
 * oldest is ended first) and each for at most `timeoutMs`. Channels are keyed weakly.
 */
export class UnsettledSpans {
  private readonly oldestFirst = new Set<UnsettledEntry>();
  private readonly byChannel = new WeakMap<AmqpChannel, Map<number, UnsettledEntry>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly warnings: WarnOnce;

  constructor(
    private readonly limits: () => { max: number; timeoutMs: number },
    private readonly logger: DiagLogger,
  ) {
    this.warnings = new WarnOnce(logger);
  }

  get size(): number {
    return this.oldestFirst.size;
  }

  track(channel: AmqpChannel, deliveryTag: unknown, scope: MessagingScope): void {
    if (typeof deliveryTag !== 'number') {
      this.logger.debug('message without a delivery tag; its span ends now');
      endSettled(scope, 'evicted');
      return;
    }
    let entries = this.byChannel.get(channel);
    if (entries === undefined) {
      entries = new Map();
      this.byChannel.set(channel, entries);
      this.watchClose(channel);
    }
    const previous = entries.get(deliveryTag);
    if (previous !== undefined) this.finish(previous, 'evicted');
    const { max, timeoutMs } = this.limits();
    const entry: UnsettledEntry = { channel, deliveryTag, scope, deadline: Date.now() + timeoutMs };
    entries.set(deliveryTag, entry);
    this.oldestFirst.add(entry);
    while (this.oldestFirst.size > max) {
      const oldest = this.oldestFirst.values().next().value as UnsettledEntry;
      this.warnings.warn(`more than ${max} consumer spans wait for ack/nack/reject (maxUnsettledSpans); the oldest is ended unsettled (logged once; later evictions at debug level)`);
      this.finish(oldest, 'evicted');
    }
    this.schedule();
  }

  /** One message (or, with `allUpTo`, every tracked message up to its tag) was settled. */
  settle(channel: AmqpChannel, deliveryTag: unknown, allUpTo: boolean, settlement: Settlement, detail?: string): void {
    const entries = this.byChannel.get(channel);
    if (entries === undefined || typeof deliveryTag !== 'number') return;
    if (!allUpTo) {
      const entry = entries.get(deliveryTag);
      if (entry !== undefined) this.finish(entry, settlement, detail);
      return;
    }
    // Tag 0 with "all up to" means every outstanding message (AMQP 0-9-1).
    for (const [tag, entry] of entries) {
      if (deliveryTag === 0 || tag <= deliveryTag) this.finish(entry, settlement, detail);
    }
  }

  /** Every tracked message of the channel was settled (ackAll, nackAll) or lost (close). */
  settleAll(channel: AmqpChannel, settlement: Settlement, detail?: string): void {
    const entries = this.byChannel.get(channel);
    if (entries === undefined) return;
    for (const entry of entries.values()) this.finish(entry, settlement, detail);
  }

  /** Ends every open span (instrumentation disabled). */
  clear(): void {
    for (const entry of this.oldestFirst) this.finish(entry, 'evicted');
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private finish(entry: UnsettledEntry, settlement: Settlement, detail?: string): void {
    this.oldestFirst.delete(entry);
    this.byChannel.get(entry.channel)?.delete(entry.deliveryTag);
    endSettled(entry.scope, settlement, detail);
    // The (unref'd) timer stays when the set empties: a consumer that acks each message before the
    // next arrives would otherwise create and clear one timer per message. It finds nothing to do.
  }

  private watchClose(channel: AmqpChannel): void {
    try {
      // 'close' is emitted however a channel ends: closed by the app, by the broker, or with its
      // connection. Only a 'close' listener is added: an 'error' listener would change what the app sees.
      channel.once?.('close', () => this.settleAll(channel, 'channel_closed', 'channel closed before the message was settled'));
    } catch (error) {
      this.logger.debug('could not watch the channel for close; its spans end by timeout', error);
    }
  }

  private schedule(): void {
    if (this.timer !== undefined || this.oldestFirst.size === 0) return;
    const oldest = this.oldestFirst.values().next().value as UnsettledEntry;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire();
      this.schedule();
    }, Math.max(0, oldest.deadline - Date.now()));
    this.timer.unref();
  }

  private expire(): void {
    const now = Date.now();
    for (const entry of this.oldestFirst) {
      if (entry.deadline > now) break;
      this.finish(entry, 'timeout');
    }
  }
}
