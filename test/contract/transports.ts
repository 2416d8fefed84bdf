import { compile } from 'path-to-regexp'
import { httpStatus, type HttpRoutes, type TalkApp } from '../../index'
import { slashName } from '../../lib/protocol'
import { compileRoutes, type CompiledMapping } from '../../lib/http/routes'
import type { Frame, TestClient } from '../../lib/testing'
import { httpTestServer, type HttpTestServer } from '../rest/http-server'

/** One request of a transcript: who sends it (a user name, or nobody), the route and the body. */
export interface ContractRequest {
  as?: string
  route: string
  body?: Frame
}

/** A reply as one transport delivered it: the whole frame or body, and the HTTP status over HTTP. */
export interface Delivered {
  status?: number
  frame: Frame
}

/** One way of reaching the app: the same request table goes through each. */
export interface Transport {
  readonly name: 'websocket' | 'http'
  /** A socket client in the room the app pushes changes to (pushes reach sockets whichever way a request came in). */
  readonly watcher: TestClient
  /** Sends one request and resolves with the reply as this transport delivers it. */
  send(request: ContractRequest): Promise<Delivered>
  /**
   * What this transport must deliver for a reply written transport-free (`{ status, ...payload }`
   * with no ref): the frame with the ref sent over a socket; over HTTP the body as is, and the status
   * of the route's mapping (success) or of the error code (the code table in lib/errors.ts).
   * Called after the `send()` it checks.
   */
  expected(request: ContractRequest, reply: Frame): Delivered
  close(): Promise<void>
}

/** Options of both transports: the app, how HTTP reaches it, and each user's upgrade or request headers. */
export interface TransportOptions {
  app: TalkApp
  routes: HttpRoutes
  /** Headers that sign a user in: `(user) => ({ authorization: 'Bearer …' })`. */
  headersFor: (user: string) => Record<string, string>
  /** The route the watcher sends to join the room. */
  watchRoute: string
}

async function serve(options: TransportOptions): Promise<{ server: HttpTestServer; watcher: TestClient }> {
  const server = await httpTestServer(options.app, { routes: options.routes })
  const watcher = await server.client()
  await watcher.request(options.watchRoute)
  return { server, watcher }
}

/** Requests as socket frames, one connection per user (and one for nobody), refs counted per transport. */
export async function websocketTransport(options: TransportOptions): Promise<Transport> {
  const { server, watcher } = await serve(options)
  const clients = new Map<string, TestClient>()
  let ref = 0
  return {
    name: 'websocket',
    watcher,
    async send(request) {
      const key = request.as ?? ''
      let client = clients.get(key)
      if (client === undefined) {
        client = await server.client(request.as === undefined ? {} : { headers: options.headersFor(request.as) })
        clients.set(key, client)
      }
      return { frame: await client.request(request.route, request.body ?? {}, { ref: ++ref }) }
    },
    expected(_request, reply) {
      return { frame: { ...reply, ref } }
    },
    close: () => server.close(),
  }
}

/** Requests as HTTP calls through the bridge: method and path from the route's first mapping, the rest of the body as query (GET, DELETE) or JSON. */
export async function httpTransport(options: TransportOptions): Promise<Transport> {
  const { server, watcher } = await serve(options)
  const mappings = compileRoutes(options.routes)
  const mappingOf = (route: string): CompiledMapping => {
    const found = mappings.find((m) => m.route === slashName(route))
    if (found === undefined) throw new Error(`no HTTP mapping for ${route}`)
    return found
  }
  return {
    name: 'http',
    watcher,
    async send(request) {
      const mapping = mappingOf(request.route)
      const body = { ...request.body }
      const params: Record<string, string> = {}
      for (const name of mapping.params) {
        params[name] = String(body[name])
        delete body[name]
      }
      let path = compile(mapping.path, { encode: encodeURIComponent })(params)
      const init: { json?: unknown; headers?: Record<string, string> } = request.as === undefined ? {} : { headers: options.headersFor(request.as) }
      if (mapping.method === 'GET' || mapping.method === 'DELETE') {
        const query = new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString()
        if (query !== '') path += `?${query}`
      } else {
        init.json = body
      }
      const reply = await server.fetch(mapping.method, path, init)
      return { status: reply.status, frame: reply.body as Frame }
    },
    expected(request, reply) {
      const error = reply.error as { code?: string } | undefined
      const status = reply.status === 'success' ? mappingOf(request.route).status : httpStatus(String(error?.code))
      return { status, frame: reply }
    },
    close: () => server.close(),
  }
}
