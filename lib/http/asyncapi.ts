import type { z } from 'zod'
import { STATUS } from '../errors'
import { colonName, PING_ROUTE, slashName } from '../protocol'
import { isPattern, type Router } from '../router'
import type { Pushes } from '../types'
import { toJsonSchema, type JsonObject } from './json-schema'

/** Push payload schemas by name; a name declared in `Pushes` (colon form) must have a schema of its payload's type. */
export type PushSchemas = { readonly [N in keyof Pushes]?: z.ZodType<Pushes[N]> } & Readonly<Record<string, z.ZodType>>

/** What the generated AsyncAPI document says about the socket API. */
export interface AsyncApiOptions {
  info: { title: string; version: string; description?: string }
  /** Servers by name, AsyncAPI style: `{ production: { host: 'api.example.com', protocol: 'wss' } }`. */
  servers?: Readonly<Record<string, { host: string; protocol: string; pathname?: string; description?: string }>>
  /** The WebSocket path the app is attached at (default `/`). */
  address?: string
  /**
   * The pushes the app sends, by name (either form), with their payload schemas:
   * `{ 'task:create': z.object({ task: Task }) }`. Talk keeps no registry of pushes, so only those listed here appear.
   */
  pushes?: PushSchemas
}

/** The single channel: one WebSocket carries every request, reply and push. */
const CHANNEL = 'talk'
const REF_SCHEMA = { oneOf: [{ type: 'string', maxLength: 64 }, { type: 'integer' }], description: 'Echoed in the reply' }

/**
 * Builds an AsyncAPI 3.0 document of the app's socket protocol from its routes' zod schemas and the
 * pushes listed in `options.pushes`. It describes the server: one channel (the WebSocket at
 * `address`) carrying every frame; per route, a `receive` operation for the request frame
 * (`{ command, ref?, ...body }`, `spec.body` on the input side) whose reply is the success frame
 * (`{ status: "success", ref?, ...reply }`, `spec.reply` on the output side) or the shared error
 * frame; per push, a `send` operation; the welcome frame and Talk's `talk/ping`. Pattern routes (`document/:id/nodes`)
 * are listed with their pattern. Schemas are JSON Schema draft-07 (AsyncAPI's Schema Object);
 * what zod cannot express (dates, transforms) appears as `{}`.
 *
 * @example res.json(asyncapiDocument(app, { info: { title: 'Tasks', version: '1.0.0' }, pushes: { 'task:create': TaskPush } }))
 */
export function asyncapiDocument(app: Router, options: AsyncApiOptions): JsonObject {
  if (options === null || typeof options !== 'object' || options.info === undefined) throw new TypeError('asyncapiDocument() takes { info: { title, version }, ... }')
  const schemas: JsonObject = {}
  const messages: JsonObject = {
    error: {
      name: 'error',
      title: 'Error reply',
      summary: 'The reply to a request that failed; the code is one of the table in docs/protocol.md or an app code.',
      payload: {
        type: 'object',
        properties: {
          status: { const: 'error' },
          ref: REF_SCHEMA,
          error: {
            type: 'object',
            properties: {
              code: { type: 'string', examples: Object.keys(STATUS) },
              message: { type: 'string' },
              details: {},
            },
            required: ['code', 'message'],
          },
        },
        required: ['status', 'error'],
      },
    },
    welcome: {
      name: 'welcome',
      title: 'Welcome',
      summary: 'The first frame on every connection.',
      payload: {
        type: 'object',
        properties: { command: { const: 'welcome' }, client: { type: 'string' }, protocol: { const: 1 } },
        required: ['command', 'client', 'protocol'],
      },
    },
  }
  const operations: JsonObject = {
    welcome: {
      action: 'send',
      channel: { $ref: `#/channels/${CHANNEL}` },
      summary: 'Greets each new connection.',
      messages: [{ $ref: `#/channels/${CHANNEL}/messages/welcome` }],
    },
  }

  // Talk's own route: answered at once, ahead of the queue and of every middleware.
  messages['talk.ping.request'] = {
    name: 'talk.ping.request',
    title: 'talk:ping request',
    summary: 'An application-level heartbeat (browsers cannot see WebSocket pings).',
    contentType: 'application/json',
    payload: {
      type: 'object',
      properties: { command: { const: colonName(PING_ROUTE) }, route: { const: PING_ROUTE }, ref: REF_SCHEMA },
      anyOf: [{ required: ['command'] }, { required: ['route'] }],
    },
  }
  messages['talk.ping.reply'] = {
    name: 'talk.ping.reply',
    title: 'talk:ping reply',
    contentType: 'application/json',
    payload: { type: 'object', properties: { status: { const: 'success' }, ref: REF_SCHEMA }, required: ['status'], additionalProperties: false },
  }
  operations['talk.ping'] = {
    action: 'receive',
    channel: { $ref: `#/channels/${CHANNEL}` },
    title: colonName(PING_ROUTE),
    summary: 'Answers at once, ahead of the request queue and of every middleware.',
    messages: [{ $ref: `#/channels/${CHANNEL}/messages/talk.ping.request` }],
    reply: { channel: { $ref: `#/channels/${CHANNEL}` }, messages: [{ $ref: `#/channels/${CHANNEL}/messages/talk.ping.reply` }] },
  }

  const seen = new Set<string>()
  for (const def of app.definitions()) {
    if (seen.has(def.name)) continue
    seen.add(def.name)
    const key = keyOf(def.name)
    const pattern = isPattern(def.name)
    const name = colonName(def.name)
    const body = def.spec?.body === undefined
      ? { type: 'object' }
      : toJsonSchema(def.spec.body, { io: 'input', target: 'draft-7', components: schemas, prefix: `${key}.body` })
    const envelope: JsonObject = pattern
      ? {
          command: { type: 'string', description: `A name matching the pattern ${name}` },
          route: { type: 'string', description: `A name matching the pattern ${def.name}` },
          ref: REF_SCHEMA,
        }
      : { command: { const: name }, route: { const: def.name }, ref: REF_SCHEMA }
    const request = withFields(body, envelope, [])
    request.anyOf = [{ required: ['command'] }, { required: ['route'] }]
    const reply = def.spec?.reply === undefined
      ? { type: 'object' }
      : toJsonSchema(def.spec.reply, { io: 'output', target: 'draft-7', components: schemas, prefix: `${key}.reply` })
    messages[`${key}.request`] = {
      name: `${key}.request`,
      title: `${name} request`,
      contentType: 'application/json',
      payload: request,
    }
    messages[`${key}.reply`] = {
      name: `${key}.reply`,
      title: `${name} reply`,
      contentType: 'application/json',
      payload: withFields(reply, { status: { const: 'success' }, ref: REF_SCHEMA }, ['status']),
    }
    operations[key] = {
      action: 'receive',
      channel: { $ref: `#/channels/${CHANNEL}` },
      title: name,
      summary: pattern ? `Talk routes matching ${name}` : `Talk route ${name}`,
      messages: [{ $ref: `#/channels/${CHANNEL}/messages/${key}.request` }],
      reply: {
        channel: { $ref: `#/channels/${CHANNEL}` },
        messages: [{ $ref: `#/channels/${CHANNEL}/messages/${key}.reply` }, { $ref: `#/channels/${CHANNEL}/messages/error` }],
      },
    }
  }

  for (const [pushName, schema] of Object.entries(options.pushes ?? {})) {
    const name = colonName(slashName(pushName))
    const key = `push.${keyOf(slashName(pushName))}`
    const payload = toJsonSchema(schema, { io: 'output', target: 'draft-7', components: schemas, prefix: key })
    messages[key] = {
      name: key,
      title: `${name} push`,
      contentType: 'application/json',
      payload: withFields(payload, { command: { const: name }, traceparent: { type: 'string' } }, ['command']),
    }
    operations[key] = {
      action: 'send',
      channel: { $ref: `#/channels/${CHANNEL}` },
      title: name,
      summary: `Push ${name}`,
      messages: [{ $ref: `#/channels/${CHANNEL}/messages/${key}` }],
    }
  }

  const channelMessages: JsonObject = {}
  for (const key of Object.keys(messages)) channelMessages[key] = { $ref: `#/components/messages/${key}` }
  const channel: JsonObject = { address: options.address ?? '/', title: 'The WebSocket', messages: channelMessages }
  const doc: JsonObject = {
    asyncapi: '3.0.0',
    info: { ...options.info },
    defaultContentType: 'application/json',
  }
  if (options.servers !== undefined) {
    const servers: JsonObject = {}
    for (const [name, server] of Object.entries(options.servers)) servers[name] = { ...server }
    doc.servers = servers
    channel.servers = Object.keys(servers).map((name) => ({ $ref: `#/servers/${name}` }))
  }
  doc.channels = { [CHANNEL]: channel }
  doc.operations = operations
  doc.components = Object.keys(schemas).length > 0 ? { schemas, messages } : { messages }
  return doc
}

/** A route or push name as a document key (components allow letters, digits, `.`, `-`, `_`): `document/:id` → `document._id`. */
function keyOf(name: string): string {
  return name.replace(/\//g, '.').replace(/[^\w.-]/g, '_')
}

/**
 * A frame's schema: the payload's object schema with the envelope's fields added (and `required`
 * extended), or, when the payload schema is not a plain object schema, both under `allOf`.
 */
function withFields(payload: JsonObject, fields: JsonObject, required: string[]): JsonObject {
  const plain = payload.type === 'object' && payload.$ref === undefined && payload.allOf === undefined && payload.anyOf === undefined && payload.oneOf === undefined
  if (!plain) return { allOf: [{ type: 'object', properties: fields, required }, payload] }
  const properties = { ...((payload.properties ?? {}) as JsonObject), ...fields }
  const all = [...required, ...(Array.isArray(payload.required) ? (payload.required as string[]) : [])]
  const out: JsonObject = { ...payload, properties }
  if (all.length > 0) out.required = [...new Set(all)]
  return out
}
