import type { RouteMap } from 'talk'
import { z } from 'zod'
import { MAX_FIELDS } from './model'

/** A document name: 1–64 characters after trimming, no control characters. */
export const DocumentId = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')

/** A node id: the version that created it. */
export const NodeId = z.number().int().positive()

/** A field value: a string up to 2000 characters, a finite number, a boolean or null (null removes the field). */
export const FieldValue = z.union([z.string().max(2000), z.number().finite(), z.boolean(), z.null()])

/** Fields to merge: at most MAX_FIELDS keys of 1–64 characters. */
export const Fields = z
  .record(z.string().min(1).max(64), FieldValue)
  .refine((fields) => Object.keys(fields).length <= MAX_FIELDS, `at most ${MAX_FIELDS} fields`)

const Empty = z.strictObject({})
const DocumentRef = z.strictObject({ id: DocumentId })

const Node = z.object({ id: NodeId, type: z.string(), data: z.record(z.string(), FieldValue) })
const Doc = z.object({ id: z.string(), version: z.number(), data: z.record(z.string(), FieldValue), nodes: z.array(Node) })

/**
 * The demo's routes: body and reply schemas. The server validates bodies with them; a typed
 * client can take `typeof routes` to type its requests.
 */
export const routes = {
  'document/create': { body: DocumentRef },
  'document/get': { body: DocumentRef, reply: z.object({ document: Doc, 'active-users': z.array(z.string()) }) },
  'document/update': { body: z.strictObject({ id: DocumentId, data: Fields }), reply: z.object({ version: z.number(), data: Fields }) },
  'document/delete': { body: DocumentRef },
  'document/leave': { body: Empty },
  'document/list': {
    body: Empty,
    reply: z.object({ documents: z.array(z.object({ id: z.string(), version: z.number(), nodes: z.number() })) }),
  },
  'node/create': { body: z.strictObject({ type: z.string().min(1).max(64), data: Fields }), reply: z.object({ node: Node, version: z.number() }) },
  'node/update': { body: z.strictObject({ id: NodeId, data: Fields }), reply: z.object({ node: Node, version: z.number() }) },
  'node/delete': { body: z.strictObject({ id: NodeId }), reply: z.object({ id: NodeId, version: z.number() }) },
} satisfies RouteMap
