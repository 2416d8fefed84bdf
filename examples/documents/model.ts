import { TalkError } from 'talk'

/** A field value of a document or a node: flat JSON scalars, so merges stay simple and small. */
export type FieldValue = string | number | boolean | null

/** A node's or a document's fields, e.g. a task's `{ name: 'Buy milk', done: false }`. */
export type Fields = Record<string, FieldValue>

/** One node of a document: a task, a note… Its id is the document version that created it. */
export interface DocNode {
  id: number
  type: string
  data: Fields
}

/** A shared document as the store holds it and `document:get` returns it. */
export interface Doc {
  id: string
  /** 1 when created; every change adds one. */
  version: number
  data: Fields
  nodes: DocNode[]
  /**
   * Who created it (the creator's user key), for the per-user quota and `document:delete`; kept in
   * the store, never sent (`wireDoc`). Absent on documents stored before creators were recorded.
   */
  creator?: string
}

/** The store key and the room of a document: `document/<id>`. */
export function documentKey(id: string): string {
  return `document/${id}`
}

/** Most nodes one document holds. */
export const MAX_NODES = 500

/** Most fields a document or node holds after a merge. */
export const MAX_FIELDS = 32

/**
 * Most bytes a node's or the document's fields take as UTF-8 JSON after a merge. With MAX_NODES it
 * bounds a whole document, and so a `document:get` reply, to about 1.1 MB.
 */
export const MAX_DATA_BYTES = 2048

/** What a change to a document produced: the new document, and the result the route replies with. */
export interface Changed<R> {
  doc: Doc
  result: R
}

/** A new, empty document at version 1, created by `creator` (a user key). */
export function newDoc(id: string, creator?: string): Doc {
  return creator === undefined ? { id, version: 1, data: {}, nodes: [] } : { id, version: 1, data: {}, nodes: [], creator }
}

/** The document as clients see it: without its creator. */
export function wireDoc(doc: Doc): Doc {
  return { id: doc.id, version: doc.version, data: doc.data, nodes: doc.nodes }
}

/**
 * Merges `patch` into `fields`: a key set to null is removed. Throws PAYLOAD_TOO_LARGE past
 * MAX_FIELDS fields or MAX_DATA_BYTES bytes.
 */
export function mergeFields(fields: Fields, patch: Fields): Fields {
  const out: Fields = { ...fields }
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else out[key] = value
  }
  if (Object.keys(out).length > MAX_FIELDS) throw new TalkError('PAYLOAD_TOO_LARGE', `At most ${MAX_FIELDS} fields`)
  if (Buffer.byteLength(JSON.stringify(out)) > MAX_DATA_BYTES) throw new TalkError('PAYLOAD_TOO_LARGE', `Fields take at most ${MAX_DATA_BYTES} bytes`)
  return out
}

/** Adds a node; its id is the new version. Throws PAYLOAD_TOO_LARGE when the document is full. */
export function addNode(doc: Doc, type: string, data: Fields): Changed<DocNode> {
  if (doc.nodes.length >= MAX_NODES) throw new TalkError('PAYLOAD_TOO_LARGE', `A document holds at most ${MAX_NODES} nodes`)
  const version = doc.version + 1
  const node: DocNode = { id: version, type, data: mergeFields({}, data) }
  return { doc: { ...doc, version, nodes: [...doc.nodes, node] }, result: node }
}

/** Merges `data` into a node's fields. Throws NOT_FOUND for an unknown node id. */
export function updateNode(doc: Doc, id: number, data: Fields): Changed<DocNode> {
  const index = findNode(doc, id)
  const current = doc.nodes[index] as DocNode
  const node: DocNode = { ...current, data: mergeFields(current.data, data) }
  const nodes = doc.nodes.slice()
  nodes[index] = node
  return { doc: { ...doc, version: doc.version + 1, nodes }, result: node }
}

/** Removes a node. Throws NOT_FOUND for an unknown node id. */
export function deleteNode(doc: Doc, id: number): Changed<{ id: number }> {
  const index = findNode(doc, id)
  const nodes = doc.nodes.slice()
  nodes.splice(index, 1)
  return { doc: { ...doc, version: doc.version + 1, nodes }, result: { id } }
}

/** Merges `data` into the document's own fields (its title, say). */
export function updateData(doc: Doc, data: Fields): Changed<{ data: Fields }> {
  const merged = mergeFields(doc.data, data)
  return { doc: { ...doc, version: doc.version + 1, data: merged }, result: { data: merged } }
}

function findNode(doc: Doc, id: number): number {
  const index = doc.nodes.findIndex((n) => n.id === id)
  if (index === -1) throw new TalkError('NOT_FOUND', `No node ${id} in document ${doc.id}`)
  return index
}
