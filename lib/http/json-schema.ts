import { z } from 'zod'

/** A JSON object: an OpenAPI or AsyncAPI document, or one of its parts. */
export type JsonObject = Record<string, unknown>

/** How one zod schema becomes a JSON Schema inside a generated document. */
export interface JsonSchemaOptions {
  /** `input` for what a client sends (defaults optional, coercions loose), `output` for what it gets back. */
  io: 'input' | 'output'
  /** JSON Schema dialect: 2020-12 for OpenAPI 3.1, draft-07 for AsyncAPI 3's Schema Object. */
  target: 'draft-2020-12' | 'draft-7'
  /** The document's `components.schemas`, which receives the schema's definitions. */
  components: JsonObject
  /** Name prefix of those definitions in `components.schemas`. */
  prefix: string
}

/**
 * One zod schema as JSON Schema, with its definitions (recursive or registered schemas, `$defs` or
 * `definitions` by dialect) moved into `components.schemas` under `prefix` so their `$ref`s resolve
 * there. Schemas zod cannot express (dates, transforms) appear as `{}`.
 */
export function toJsonSchema(schema: z.ZodType, options: JsonSchemaOptions): JsonObject {
  const { io, target, components, prefix } = options
  const out = z.toJSONSchema(schema, { io, target, unrepresentable: 'any' }) as JsonObject
  delete out.$schema
  const local = target === 'draft-7' ? '#/definitions/' : '#/$defs/'
  const defs = (target === 'draft-7' ? out.definitions : out.$defs) as Record<string, unknown> | undefined
  delete out.$defs
  delete out.definitions
  const rewritten = (ref: string): string | undefined => {
    if (ref === '#') return `#/components/schemas/${prefix}`
    return ref.startsWith(local) ? `#/components/schemas/${prefix}.${ref.slice(local.length)}` : undefined
  }
  let selfReferenced = false
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite)
    if (value === null || typeof value !== 'object') return value
    const copy: JsonObject = {}
    for (const [key, inner] of Object.entries(value)) {
      const target = key === '$ref' && typeof inner === 'string' ? rewritten(inner) : undefined
      if (target !== undefined) {
        if (inner === '#') selfReferenced = true
        copy[key] = target
      } else {
        Object.defineProperty(copy, key, { value: rewrite(inner), enumerable: true, writable: true, configurable: true })
      }
    }
    return copy
  }
  const root = rewrite(out) as JsonObject
  for (const [key, def] of Object.entries(defs ?? {})) components[`${prefix}.${key}`] = rewrite(def)
  if (selfReferenced) components[prefix] = root
  return root
}
