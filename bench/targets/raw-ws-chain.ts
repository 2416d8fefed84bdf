// Baseline with a chain, by hand: bearer auth at the handshake (checked again per message), zod validation
// of the body, and a state lookup (per-connection Map, global Map of documents) before the handler.
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { z } from 'zod'
import { serveControl } from '../lib/control'
import { decodeRequest, encodeError, encodePush, encodeSuccess, encodeWelcome } from '../lib/raw-protocol'
import { BENCH_TOKEN } from '../lib/targets'

interface Peer {
  id: string
  socket: WebSocket
  user: { name: string } | undefined
  rooms: Set<string>
}

interface ConnectionState {
  document: string
}

interface Document {
  id: string
  members: Set<Peer>
}

interface Step {
  peer: Peer
  state: ConnectionState
  document: Document | undefined
}

type Handler = (step: Step, body: Record<string, unknown>) => object

const Echo = z.object({ n: z.number().int(), pad: z.string().max(4096) })
const Join = z.object({ room: z.string().min(1).max(200) })
const Publish = z.object({ room: z.string().min(1).max(200), seq: z.number().int(), pad: z.string().max(4096) })

const documents = new Map<string, Document>()
const states = new Map<Peer, ConnectionState>()

const routes = new Map<string, { schema: z.ZodType<Record<string, unknown>>; handler: Handler }>([
  ['echo', { schema: Echo, handler: (_step, body) => ({ echo: body }) }],
  [
    'join',
    {
      schema: Join,
      handler: ({ peer, state }, body) => {
        const id = String(body['room'])
        let document = documents.get(id)
        if (!document) documents.set(id, (document = { id, members: new Set() }))
        document.members.add(peer)
        peer.rooms.add(id)
        state.document = id
        return {}
      },
    },
  ],
  [
    'publish',
    {
      schema: Publish,
      handler: ({ peer }, body) => {
        const frame = encodePush('news', body)
        for (const member of documents.get(String(body['room']))?.members ?? []) {
          if (member !== peer) member.socket.send(frame)
        }
        return {}
      },
    },
  ],
])

/** The user a bearer token names, or undefined: one fixed token stands in for a real verifier. */
function authenticate(header: string | undefined): { name: string } | undefined {
  return header === `Bearer ${BENCH_TOKEN}` ? { name: 'bench' } : undefined
}

let nextId = 0
const http = createServer()
const wss = new WebSocketServer({ noServer: true })

http.on('upgrade', (request, socket, head) => {
  const user = authenticate(request.headers.authorization)
  if (!user) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n')
    return
  }
  wss.handleUpgrade(request, socket, head, (ws) => onConnection(ws, user))
})

function onConnection(socket: WebSocket, user: { name: string }): void {
  const peer: Peer = { id: `c${++nextId}`, socket, user, rooms: new Set() }
  states.set(peer, { document: 'lobby' })
  socket.send(encodeWelcome(peer.id))
  socket.on('message', (data, isBinary) => {
    const request = decodeRequest(data, isBinary)
    if ('error' in request) return socket.send(encodeError(request.ref, 'BAD_REQUEST', request.error))
    const route = routes.get(request.name)
    if (!route) return socket.send(encodeError(request.ref, 'NOT_FOUND', `No route ${request.name}`))
    // The chain, in the order talk-chain runs it. auth: the token was checked at the upgrade; per message only that it was.
    if (peer.user === undefined) return socket.send(encodeError(request.ref, 'UNAUTHORIZED', 'Sign in first'))
    const parsed = route.schema.safeParse(request.body)
    if (!parsed.success) {
      return socket.send(encodeError(request.ref, 'VALIDATION_FAILED', 'Invalid body', parsed.error.issues))
    }
    const state = states.get(peer)
    if (!state) return socket.send(encodeError(request.ref, 'INTERNAL', 'Internal error'))
    const step: Step = { peer, state, document: documents.get(state.document) }
    socket.send(encodeSuccess(request.ref, route.handler(step, parsed.data)))
  })
  socket.on('close', () => {
    states.delete(peer)
    for (const room of peer.rooms) {
      const document = documents.get(room)
      document?.members.delete(peer)
      if (document?.members.size === 0) documents.delete(room)
    }
  })
}

http.listen(0, '127.0.0.1', () => {
  const address = http.address()
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address')
  serveControl(address.port)
})
