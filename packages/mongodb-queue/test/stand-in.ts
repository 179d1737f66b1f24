/** Test double for unit and property tests only; integration tests use the real driver. */
type Doc = Record<string, any>;

/** Stands in for the driver's Collection: assigns _id like the driver and records its input. */
export class StandInCollection {
  static received: unknown[] = [];
  client = { options: { hosts: [{ host: 'db.internal', port: 27018 }] } };
  constructor(
    readonly dbName: string,
    readonly collectionName: string,
  ) {}
  async insertOne(document: Doc) {
    if (document._id == null) document._id = `id-${StandInCollection.received.length}`;
    StandInCollection.received.push(document);
    return { acknowledged: true, insertedId: document._id };
  }
  async insertMany(documents: Doc[]) {
    if (!Array.isArray(documents)) throw new TypeError('docs must be an array');
    for (const document of documents) {
      if (document._id == null) document._id = `id-${StandInCollection.received.length}`;
      StandInCollection.received.push(document);
    }
    return { insertedIds: Object.fromEntries(documents.map((d, i) => [i, d._id])) };
  }
  async bulkWrite(operations: unknown) {
    StandInCollection.received.push(operations);
    return {};
  }
  async findOneAndUpdate(_filter: Doc, _update: Doc, _options?: Doc): Promise<unknown> {
    return StandInCollection.next;
  }
  async findOneAndDelete(): Promise<unknown> {
    return StandInCollection.next;
  }
  async findOne(): Promise<unknown> {
    return StandInCollection.next;
  }
  find() {
    return {};
  }
  watch() {
    return {};
  }
  static next: unknown = null;
}

