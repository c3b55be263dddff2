// The API server's JSON and client-node's TypeScript models differ: a model renames fields that
// are reserved words in TypeScript (a NetworkPolicy rule's `from` is `_from`) and turns
// date-time strings into Date objects. client-node's typed list calls return models, while its
// watch hands over the JSON as sent. This module is the one place that converts, with the
// serializer client-node's list calls use, so a cached object has the form its type says however
// it arrived.
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';

/** The client-node models the product caches, by the name client-node's serializer knows. */
export type ModelName = 'V1Pod' | 'V1Node' | 'V1Namespace' | 'V1Service' | 'V1EndpointSlice' | 'V1NetworkPolicy';

/** An object as the API server sends it (a watch event, `kubectl get -o json`) as a model. */
export function fromWire<T>(obj: unknown, model: ModelName): T {
  return ObjectSerializer.deserialize(obj, model) as T;
}

/** A model back into the API server's JSON. */
export function toWire(obj: unknown, model: ModelName): Record<string, unknown> {
  return ObjectSerializer.serialize(obj, model) as Record<string, unknown>;
}
