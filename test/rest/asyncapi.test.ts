import { z } from 'zod'
import { asyncapiDocument, bridge, resource, talk, type AsyncApiOptions } from '../../index'
import { silent } from '../helpers/seed-app'
import { httpTestServer, type HttpTestServer } from './http-server'

interface Tree {
  name: string
  children: Tree[]
}
const TreeSchema: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string(), children: z.array(TreeSchema) }))

function docsApp() {
  const app = talk({ logger: silent })
  const Doc = z.object({ id: z.string(), title: z.string() })
  app.route('document/get', { body: z.object({ id: z.string().min(1) }), reply: z.object({ document: Doc }) }, (ctx) => ({
    document: { id: ctx.body.id, title: 'x' },
  }))
  app.route('document/create', { body: z.object({ id: z.string(), outline: TreeSchema.optional() }) }, () => undefined)
  app.route('document/:id/nodes', () => undefined)
  app.route('health', () => ({ ok: true }))
  return app
}

const options: AsyncApiOptions = {
  info: { title: 'Documents', version: '1.0.0' },
  servers: { local: { host: 'localhost:3000', protocol: 'ws' } },
  pushes: {
    'node:create': z.object({ type: z.string(), data: z.record(z.string(), z.unknown()) }),
    'outline/changed': z.object({ outline: TreeSchema }),
  },
}

/** The validator packages this test needs (devDependencies); without them it skips with a reason, except under CI=true. */
const VALIDATOR = ['@asyncapi/specs', 'ajv', 'ajv-formats']
const missing = VALIDATOR.filter((name) => {
  try {
    require.resolve(name)
    return false
  } catch {
    return true
  }
})

type Validate = ((doc: unknown) => boolean) & { errors?: unknown[] | null }

/** The official AsyncAPI 3.0.0 JSON Schema, compiled with ajv the way @asyncapi/parser does (its embedded meta-schemas removed: ajv has them). */
function asyncapiValidator(): Validate {
  const specs = require('@asyncapi/specs') as { schemas: Record<string, Record<string, unknown>> }
  const Ajv = (require('ajv') as { default: new (options: object) => { compile(schema: object): Validate } }).default
  const addFormats = (require('ajv-formats') as { default: (ajv: object) => void }).default
  const schema = structuredClone(specs.schemas['3.0.0']) as { definitions: Record<string, unknown> }
  delete schema.definitions['http://json-schema.org/draft-07/schema']
  delete schema.definitions['http://json-schema.org/draft-04/schema']
  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats(ajv)
  return ajv.compile(schema)
}

describe('AsyncAPI document of the socket side', () => {
  let server: HttpTestServer
  beforeEach(async () => {
    server = await httpTestServer(docsApp(), { routes: resource('/documents', 'document'), asyncapi: options })
  })
  afterEach(() => server.close())

  it('is served at /asyncapi.json and equals asyncapiDocument()', async () => {
    const reply = await server.fetch('GET', '/asyncapi.json')
    expect(reply.status).toBe(200)
    expect(reply.body).toEqual(asyncapiDocument(server.app, options))
    expect(reply.body).toMatchObject({ asyncapi: '3.0.0', info: options.info, servers: { local: { host: 'localhost:3000', protocol: 'ws' } } })
  })

  const validates = missing.length === 0 || process.env.CI === 'true' ? it : it.skip
  if (missing.length > 0 && process.env.CI !== 'true') console.warn(`skipping the AsyncAPI schema check: ${missing.join(', ')} not installed`)
  validates('is valid against the official AsyncAPI 3.0.0 JSON Schema', () => {
    if (missing.length > 0) throw new Error(`the AsyncAPI schema check needs ${missing.join(', ')} under CI=true`)
    const validate = asyncapiValidator()
    const doc = asyncapiDocument(server.app, options)
    expect([validate(doc), validate.errors ?? null]).toEqual([true, null])
    // and the check has teeth: an operation without its channel is refused
    const broken = structuredClone(doc) as { operations: Record<string, Record<string, unknown>> }
    delete broken.operations['document.get']?.channel
    expect(validate(broken)).toBe(false)
  })

  it('describes a route as a receive operation with its request frame and its success or error reply', () => {
    const doc = asyncapiDocument(server.app, options) as {
      operations: Record<string, unknown>
      components: { messages: Record<string, unknown> }
      channels: { talk: { address: string; messages: Record<string, unknown> } }
    }
    expect(doc.operations['document.get']).toEqual({
      action: 'receive',
      channel: { $ref: '#/channels/talk' },
      title: 'document:get',
      summary: 'Talk route document:get',
      messages: [{ $ref: '#/channels/talk/messages/document.get.request' }],
      reply: {
        channel: { $ref: '#/channels/talk' },
        messages: [{ $ref: '#/channels/talk/messages/document.get.reply' }, { $ref: '#/channels/talk/messages/error' }],
      },
    })
    const ref = { oneOf: [{ type: 'string', maxLength: 64 }, { type: 'integer' }], description: 'Echoed in the reply' }
    expect(doc.components.messages['document.get.request']).toEqual({
      name: 'document.get.request',
      title: 'document:get request',
      contentType: 'application/json',
      payload: {
        type: 'object',
        properties: { id: { type: 'string', minLength: 1 }, command: { const: 'document:get' }, route: { const: 'document/get' }, ref },
        required: ['id'],
        anyOf: [{ required: ['command'] }, { required: ['route'] }],
      },
    })
    expect(doc.components.messages['document.get.reply']).toEqual({
      name: 'document.get.reply',
      title: 'document:get reply',
      contentType: 'application/json',
      payload: {
        type: 'object',
        properties: {
          document: { type: 'object', properties: { id: { type: 'string' }, title: { type: 'string' } }, required: ['id', 'title'], additionalProperties: false },
          status: { const: 'success' },
          ref,
        },
        required: ['status', 'document'],
        additionalProperties: false,
      },
    })
    expect(doc.channels.talk.address).toBe('/')
    expect(Object.keys(doc.operations)).toEqual([
      'welcome', 'talk.ping', 'document.get', 'document.create', 'document._id.nodes', 'health', 'push.node.create', 'push.outline.changed',
    ])
    expect(Object.keys(doc.channels.talk.messages)).toEqual(Object.keys(doc.components.messages))
  })

  it('describes each listed push as a send operation with its frame', () => {
    const doc = asyncapiDocument(server.app, options) as { operations: Record<string, unknown>; components: { messages: Record<string, unknown> } }
    expect(doc.operations['push.node.create']).toEqual({
      action: 'send',
      channel: { $ref: '#/channels/talk' },
      title: 'node:create',
      summary: 'Push node:create',
      messages: [{ $ref: '#/channels/talk/messages/push.node.create' }],
    })
    expect(doc.components.messages['push.node.create']).toEqual({
      name: 'push.node.create',
      title: 'node:create push',
      contentType: 'application/json',
      payload: {
        type: 'object',
        properties: {
          type: { type: 'string' },
          data: { type: 'object', propertyNames: { type: 'string' }, additionalProperties: {} },
          command: { const: 'node:create' },
          traceparent: { type: 'string' },
        },
        required: ['command', 'type', 'data'],
        additionalProperties: false,
      },
    })
  })

  it('moves recursive schemas into components so every $ref resolves', () => {
    const doc = asyncapiDocument(server.app, options)
    const refs: string[] = []
    JSON.stringify(doc, (key, value: unknown) => {
      if (key === '$ref' && typeof value === 'string') refs.push(value)
      return value
    })
    expect(refs).toContain('#/components/schemas/push.outline.changed.__schema0')
    for (const ref of refs) {
      let at: unknown = doc
      for (const part of ref.replace(/^#\//, '').split('/')) at = (at as Record<string, unknown> | undefined)?.[part]
      expect([ref, at]).toEqual([ref, expect.any(Object)])
    }
    expect(JSON.stringify(doc)).not.toContain('"#/definitions/')
  })

  it('is not served unless asked for, and a bad path is a start-up TypeError', async () => {
    const plain = await httpTestServer(docsApp(), { routes: resource('/documents', 'document') })
    try {
      expect((await plain.fetch('GET', '/asyncapi.json')).status).toBe(404)
    } finally {
      await plain.close()
    }
    expect(() => bridge(talk({ logger: silent }), { routes: {}, asyncapi: { ...options, path: 'asyncapi.json' } })).toThrow(TypeError)
  })
})
