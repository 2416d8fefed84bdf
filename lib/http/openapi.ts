import { colonName } from '../protocol'
import { compileMatcher, isPattern, type RouteDefinition, type Router } from '../router'
import { toJsonSchema, type JsonObject } from './json-schema'
import { compileRoutes, type CompiledMapping, type HttpRoutes } from './routes'

export type { JsonObject } from './json-schema'

/** What the generated OpenAPI document says about the API as a whole. */
export interface OpenApiOptions {
  info: { title: string; version: string; description?: string }
  /** Base URLs, e.g. `[{ url: '/api' }]` when the bridge is mounted under `/api`. */
  servers?: { url: string; description?: string }[]
}

const WRITES = new Set(['POST', 'PUT', 'PATCH'])

/**
 * Builds an OpenAPI 3.1 document for the bridged routes from their zod schemas: path and query
 * parameters and the request body from `spec.body` (input side), the success reply from
 * `spec.reply` (output side), and the shared error body. Mappings to routes the app lacks are left
 * out, as the bridge passes them on. Schemas zod cannot express in JSON Schema
 * (dates, transforms) appear as `{}`.
 *
 * @example res.json(openapiDocument(app, routes, { info: { title: 'Tasks', version: '1.0.0' } }))
 */
export function openapiDocument(app: Router, routes: HttpRoutes, options: OpenApiOptions): JsonObject {
  return buildOpenApi(app, compileRoutes(routes), options)
}

/** `openapiDocument()` for mappings already compiled (the bridge's own). */
export function buildOpenApi(app: Router, mappings: readonly CompiledMapping[], options: OpenApiOptions): JsonObject {
  const definitions = app.definitions()
  const definitionOf = (route: string): RouteDefinition | undefined =>
    definitions.find((d) => d.name === route) ?? definitions.find((d) => isPattern(d.name) && compileMatcher(d.name)(route) !== false)
  const schemas: JsonObject = {
    Success: {
      type: 'object',
      properties: { status: { const: 'success' } },
      required: ['status'],
    },
    Error: {
      type: 'object',
      properties: {
        status: { const: 'error' },
        error: {
          type: 'object',
          properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
          required: ['code', 'message'],
        },
      },
      required: ['status', 'error'],
    },
  }
  // Like the bridge, only routes the app has: the rest are someone else's (Express's) for now.
  const served = mappings.flatMap((m) => {
    const definition = definitionOf(m.route)
    return definition === undefined ? [] : [{ m, spec: definition.spec }]
  })
  const timesMapped = new Map<string, number>()
  for (const { m } of served) timesMapped.set(m.route, (timesMapped.get(m.route) ?? 0) + 1)

  const paths: Record<string, JsonObject> = Object.create(null) as Record<string, JsonObject>
  for (const { m, spec } of served) {
    const name = colonName(m.route)
    const operationId = (timesMapped.get(m.route) ?? 0) > 1 ? `${name}.${m.method.toLowerCase()}` : name
    const prefix = operationId.replace(/[^A-Za-z0-9._-]+/g, '_')
    const body = spec?.body === undefined ? undefined : toJsonSchema(spec.body, { io: 'input', target: 'draft-2020-12', components: schemas, prefix: `${prefix}.body` })
    const properties = (body?.properties ?? {}) as Record<string, JsonObject>
    const required = Array.isArray(body?.required) ? (body.required as string[]) : []

    const parameters: JsonObject[] = m.params.map((p) => ({
      name: p, in: 'path', required: true, schema: properties[p] ?? { type: 'string' },
    }))
    const operation: JsonObject = { operationId, summary: `Talk route ${name}`, tags: [tagOf(m.path)] }
    if (WRITES.has(m.method)) {
      const rest = body === undefined ? { type: 'object' } : withoutProperties(body, m.params)
      const restRequired = Array.isArray(rest.required) && rest.required.length > 0
      operation.requestBody = { required: restRequired, content: { 'application/json': { schema: rest } } }
    } else {
      for (const [key, schema] of Object.entries(properties)) {
        if (!m.params.includes(key)) parameters.push({ name: key, in: 'query', required: required.includes(key), schema })
      }
    }
    if (parameters.length > 0) operation.parameters = parameters

    const reply = spec?.reply === undefined ? undefined : toJsonSchema(spec.reply, { io: 'output', target: 'draft-2020-12', components: schemas, prefix: `${prefix}.reply` })
    const success = reply === undefined ? { $ref: '#/components/schemas/Success' } : { allOf: [{ $ref: '#/components/schemas/Success' }, reply] }
    const responses: JsonObject = {
      [String(m.status)]: { description: 'Success', content: { 'application/json': { schema: success } } },
      '400': { $ref: '#/components/responses/Error' },
    }
    if (body !== undefined) responses['422'] = { $ref: '#/components/responses/Error' }
    responses.default = { $ref: '#/components/responses/Error' }
    operation.responses = responses

    const item = (paths[m.openapiPath] ??= {})
    item[m.method.toLowerCase()] = operation
  }
  const doc: JsonObject = {
    openapi: '3.1.0',
    info: { ...options.info },
    paths: { ...paths },
    components: {
      schemas,
      responses: {
        Error: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    },
  }
  if (options.servers !== undefined) doc.servers = options.servers.map((s) => ({ ...s }))
  return doc
}

function tagOf(path: string): string {
  return path.split('/').find((s) => s.length > 0 && !s.startsWith(':') && !s.startsWith('*') && !s.startsWith('{')) ?? 'default'
}

function withoutProperties(schema: JsonObject, names: readonly string[]): JsonObject {
  if (names.length === 0 || schema.properties === undefined) return schema
  const properties = { ...(schema.properties as JsonObject) }
  for (const name of names) delete properties[name]
  const copy: JsonObject = { ...schema, properties }
  if (Array.isArray(schema.required)) copy.required = (schema.required as string[]).filter((r) => !names.includes(r))
  return copy
}
