// The parts of amqplib's internal files this package touches. Typed structurally, because
// amqplib 0.10 ships no types and its internals are not part of any published typing.

/** amqplib's `Connection` (lib/connection.js); `stream` is its socket. */
export interface AmqpConnection {
  stream?: { remoteAddress?: string; remotePort?: number };
}

/** A channel of either API (lib/channel_model.js or lib/callback_model.js). */
export interface AmqpChannel {
  connection?: AmqpConnection;
  once?: (event: string, listener: () => void) => unknown;
}

export type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** Channel prototype methods this package wraps. */
export interface ChannelPrototype {
  publish: AnyFunction;
  consume: AnyFunction;
  get: AnyFunction;
  ack: AnyFunction;
  nack: AnyFunction;
  reject: AnyFunction;
  ackAll: AnyFunction;
  nackAll: AnyFunction;
}

/** The exports of lib/channel_model.js and lib/callback_model.js. */
export interface ChannelModelModule {
  Channel?: { prototype: ChannelPrototype };
  ConfirmChannel?: { prototype: { publish: AnyFunction } };
}

/** The exports of lib/connect.js. */
export interface ConnectModule {
  connect?: AnyFunction;
}

/** The server a connection was opened to; never anything else from the URL. */
export interface ServerAddress {
  address?: string;
  port?: number;
}
