// The reconnect storm's baseline: bench/targets/raw-ws.ts's hand-written protocol v1 on `ws`, with
// the same drain as Talk's (each client closed with 1012 at a random moment in the jitter window).
import { createServer } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { decodeRequest, encodeError, encodePush, encodeSuccess, encodeWelcome } from '../lib/raw-protocol'
import { serveStorm } from './server-control'

interface Peer {
  id: string
  socket: WebSocket
  rooms: Set<string>
}

type Handler = (peer: Peer, body: Record<string, unknown>) => object

/** A peer that does not answer the close frame is cut off after this long, ms (as Talk's drain does). */
const CLOSE_CUT_OFF_MS = 2000

const rooms = new Map<string, Set<Peer>>()
const peers = new Set<Peer>()
let draining = false

const routes = new Map<string, Handler>([
  ['echo', (_peer, body) => ({ echo: body })],
  [
    'join',
    (peer, body) => {
      const room = String(body['room'])
      let members = rooms.get(room)
      if (!members) rooms.set(room, (members = new Set()))
      members.add(peer)
      peer.rooms.add(room)
      return {}
    },
  ],
  [
    'publish',
    (peer, body) => {
      const frame = encodePush('news', body)
      for (const member of rooms.get(String(body['room'])) ?? []) {
        if (member !== peer) member.socket.send(frame)
      }
      return {}
    },
  ],
])

let nextId = 0
const http = createServer()
const wss = new WebSocketServer({ server: http })

wss.on('connection', (socket) => {
  if (draining) return socket.close(1012, 'service restart')
  const peer: Peer = { id: `c${++nextId}`, socket, rooms: new Set() }
  peers.add(peer)
  socket.send(encodeWelcome(peer.id))
  socket.on('message', (data, isBinary) => {
    const request = decodeRequest(data, isBinary)
    if ('error' in request) return socket.send(encodeError(request.ref, 'BAD_REQUEST', request.error))
    const handler = routes.get(request.name)
    if (!handler) return socket.send(encodeError(request.ref, 'NOT_FOUND', `No route ${request.name}`))
    socket.send(encodeSuccess(request.ref, handler(peer, request.body)))
  })
  socket.on('close', () => {
    peers.delete(peer)
    for (const room of peer.rooms) {
      const members = rooms.get(room)
      members?.delete(peer)
      if (members?.size === 0) rooms.delete(room)
    }
  })
})

/** Closes one peer with 1012 after `delay` ms; resolves once its socket has closed. */
function closeLater(peer: Peer, delay: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(() => {
      if (peer.socket.readyState !== peer.socket.OPEN) return resolve()
      const cutOff = setTimeout(() => peer.socket.terminate(), CLOSE_CUT_OFF_MS)
      peer.socket.once('close', () => {
        clearTimeout(cutOff)
        resolve()
      })
      peer.socket.close(1012, 'service restart')
    }, delay)
  })
}

serveStorm({
  http,
  drain: async (jitterMs) => {
    draining = true
    await Promise.all([...peers].map((peer) => closeLater(peer, Math.random() * jitterMs)))
  },
  connections: () => peers.size,
})
