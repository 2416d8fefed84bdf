import { z } from 'zod'
import { openapiDocument, resource, talk } from '../../index'
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
  app.route('document/list', { body: z.object({ limit: z.coerce.number().int().min(1).optional() }), reply: z.object({ documents: z.array(Doc) }) }, () => ({
    documents: [],
  }))
  app.route('document/get', { body: z.object({ id: z.string().min(1) }), reply: z.object({ document: Doc }) }, (ctx) => ({
    document: { id: ctx.body.id, title: 'x' },
  }))
  app.route('document/create', { body: z.object({ id: z.string(), title: z.string(), outline: TreeSchema.optional() }) }, () => undefined)
  app.route('document/update', { body: z.object({ id: z.string(), title: z.string() }) }, () => undefined)
  app.route('health', () => ({ ok: true }))
  return app
}

// document/delete has no route yet: it stays out of the document, as the bridge does not serve it
const routes = { ...resource('/documents', 'document'), 'GET /health': 'health' }
const info = { title: 'Documents', version: '1.0.0' }

describe('OpenAPI document of the bridged routes', () => {
  let server: HttpTestServer
  beforeEach(async () => {
    server = await httpTestServer(docsApp(), { routes, openapi: { info, servers: [{ url: '/' }] } })
  })
  afterEach(() => server.close())

  it('is served at /openapi.json and equals openapiDocument()', async () => {
    const reply = await server.fetch('GET', '/openapi.json')
    expect(reply.status).toBe(200)
    expect(reply.body).toEqual(openapiDocument(server.app, routes, { info, servers: [{ url: '/' }] }))
    expect(reply.body).toMatchObject({ openapi: '3.1.0', info, servers: [{ url: '/' }] })
  })

  it('describes path and query parameters, bodies and replies from the zod schemas', () => {
    const doc = openapiDocument(server.app, routes, { info }) as { paths: Record<string, Record<string, unknown>> }
    expect(Object.keys(doc.paths)).toEqual(['/documents', '/documents/{id}', '/health'])
    expect(doc.paths['/documents/{id}']?.get).toEqual({
      operationId: 'document:get',
      summary: 'Talk route document:get',
      tags: ['documents'],
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', minLength: 1 } }],
      responses: {
        '200': {
          description: 'Success',
          content: {
            'application/json': {
              schema: {
                allOf: [
                  { $ref: '#/components/schemas/Success' },
                  {
                    type: 'object',
                    properties: {
                      document: {
                        type: 'object',
                        properties: { id: { type: 'string' }, title: { type: 'string' } },
                        required: ['id', 'title'],
                        additionalProperties: false,
                      },
                    },
                    required: ['document'],
                    additionalProperties: false,
                  },
                ],
              },
            },
          },
        },
        '400': { $ref: '#/components/responses/Error' },
        '422': { $ref: '#/components/responses/Error' },
        default: { $ref: '#/components/responses/Error' },
      },
    })
    expect((doc.paths['/documents']?.get as { parameters: unknown }).parameters).toEqual([
      { name: 'limit', in: 'query', required: false, schema: expect.objectContaining({ type: 'integer', minimum: 1 }) },
    ])
    // a write: the path's id leaves the request body, and a route mapped three times gets three ids
    const patch = doc.paths['/documents/{id}']?.patch as { operationId: string; requestBody: unknown }
    expect(patch.operationId).toBe('document:update.patch')
    expect(patch.requestBody).toEqual({
      required: true,
      content: { 'application/json': { schema: { type: 'object', properties: { title: { type: 'string' } }, required: ['title'] } } },
    })
    expect(doc.paths['/documents/{id}']?.delete).toBeUndefined()
    expect(doc.paths['/documents']?.post).toMatchObject({ responses: { '201': { description: 'Success' } } })
  })

  it('moves recursive schemas into components so every $ref resolves', () => {
    const doc = openapiDocument(server.app, routes, { info }) as { components: { schemas: Record<string, unknown> } }
    const refs: string[] = []
    JSON.stringify(doc, (key, value: unknown) => {
      if (key === '$ref' && typeof value === 'string') refs.push(value)
      return value
    })
    expect(refs.length).toBeGreaterThan(0)
    for (const ref of refs) {
      const parts = ref.replace(/^#\//, '').split('/')
      let at: unknown = doc
      for (const part of parts) at = (at as Record<string, unknown> | undefined)?.[part]
      expect([ref, at]).toEqual([ref, expect.any(Object)])
    }
    expect(JSON.stringify(doc)).not.toContain('"#/$defs/')
  })

  it('is not served unless asked for', async () => {
    const plain = await httpTestServer(docsApp(), { routes })
    try {
      expect((await plain.fetch('GET', '/openapi.json')).status).toBe(404)
    } finally {
      await plain.close()
    }
  })
})
