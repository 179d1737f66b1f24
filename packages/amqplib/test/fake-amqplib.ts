// Stand-ins for the exports of amqplib's lib/channel_model.js and lib/connect.js, for unit tests
// that call the wrappers directly (Jest cannot patch real modules). They copy amqplib's argument
// handling, not a broker: integration tests use the real RabbitMQ.
import { EventEmitter } from 'node:events';

export interface Published {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: any;
  /** The header table as amqplib's encoder sees it (for-in over Object.create(headers)). */
  encodedHeaders: Record<string, unknown>;
}

export interface FakeMessage {
  content: Buffer;
  fields: { exchange: string; routingKey: string; deliveryTag: number; redelivered: boolean; consumerTag?: string };
  properties: { headers?: any; messageId?: string; correlationId?: string };
}

let nextTag = 1;

export function message(queue: string, headers: any, extra: Partial<FakeMessage['properties']> = {}): FakeMessage {
  return {
    content: Buffer.from('payload'),
    fields: { exchange: '', routingKey: queue, deliveryTag: nextTag++, redelivered: false, consumerTag: 'ctag' },
    properties: { headers, ...extra },
  };
}

export function createFakeModule(api: 'promise' | 'callback' = 'promise') {
  class Channel extends EventEmitter {
    connection: any = { stream: { remoteAddress: '10.9.8.7', remotePort: 5999 } };
    published: Published[] = [];
    settled: string[] = [];
    consumers = new Map<string, (message: FakeMessage | null) => unknown>();
    nextGet: FakeMessage | false = false;
    failPublish: Error | undefined;

    publish(exchange: string, routingKey: string, content: Buffer, options?: any): boolean {
      if (this.failPublish) throw this.failPublish;
      const headers = Object.create((options || {}).headers || null);
      // Null prototype, so that a `__proto__` key shows up as the encoder would write it.
      const encodedHeaders: Record<string, unknown> = Object.create(null);
      for (const key in headers) encodedHeaders[key] = headers[key];
      this.published.push({ exchange, routingKey, content, options, encodedHeaders });
      return true;
    }

    sendToQueue(queue: string, content: Buffer, options?: any): boolean {
      return this.publish('', queue, content, options);
    }

    consume(queue: string, callback: (message: FakeMessage | null) => unknown, _options?: any): Promise<{ consumerTag: string }> {
      this.consumers.set(queue, callback);
      return Promise.resolve({ consumerTag: 'ctag' });
    }

    /** What amqplib does on a basic.deliver. */
    deliver(queue: string, delivered: FakeMessage | null): unknown {
      return this.consumers.get(queue)!(delivered);
    }

    // Promise API: get(queue, options) → Promise; callback API: get(queue, options, callback).
    get(_queue: string, _options?: any, callback?: any): any {
      const next = this.nextGet;
      if (api === 'promise') return Promise.resolve(next);
      setImmediate(() => callback(null, next));
      return this;
    }

    ack(delivered: FakeMessage, allUpTo?: boolean): void {
      this.settled.push(`ack ${delivered.fields.deliveryTag}${allUpTo ? ' all' : ''}`);
    }

    ackAll(): void {
      this.settled.push('ackAll');
    }

    nack(delivered: FakeMessage, allUpTo?: boolean, requeue?: boolean): void {
      this.settled.push(`nack ${delivered.fields.deliveryTag} ${allUpTo} ${requeue}`);
    }

    nackAll(requeue?: boolean): void {
      this.settled.push(`nackAll ${requeue}`);
    }

    reject(delivered: FakeMessage, requeue?: boolean): void {
      this.settled.push(`reject ${delivered.fields.deliveryTag} ${requeue}`);
    }

    close(): void {
      this.emit('close');
    }
  }

  class ConfirmChannel extends Channel {
    confirmCallbacks: (((error: Error | null) => void) | false)[] = [];

    // As in amqplib 2.x: publish through the plain Channel, then queue the confirm callback.
    override publish(exchange: string, routingKey: string, content: Buffer, options?: any, cb?: (error: Error | null) => void): boolean {
      const result = super.publish(exchange, routingKey, content, options);
      this.confirmCallbacks.push(cb || false);
      return result;
    }

    override sendToQueue(queue: string, content: Buffer, options?: any, cb?: (error: Error | null) => void): boolean {
      return this.publish('', queue, content, options, cb);
    }

    /** What amqplib does on a basic.ack / basic.nack from the broker. */
    confirm(error: Error | null): void {
      const callback = this.confirmCallbacks.shift();
      if (callback) callback(error);
    }
  }

  const connectModule = {
    connect(_url: unknown, _socketOptions: unknown, openCallback: (error: Error | null, connection?: object) => void) {
      openCallback(null, { stream: { remoteAddress: '192.0.2.1', remotePort: 1 } });
    },
  };

  return {
    model: { Channel, ConfirmChannel },
    connectModule,
  };
}
