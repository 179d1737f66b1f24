// Internal modules of the real libraries (their package exports hide them), loaded by path with
// Node's own require so the fuzz suites run the libraries' real encoders and dispatch.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const load = createRequire(__filename);

/** A file of the installed amqplib, e.g. `lib/channel_model.js`. */
export const amqplibFile = (file: string): any => load(join(dirname(load.resolve('amqplib')), file));

/** A file of the installed kafkajs, e.g. `src/protocol/recordBatch/record/v0`. */
export const kafkajsFile = (file: string): any => load(join(dirname(load.resolve('kafkajs')), file));
