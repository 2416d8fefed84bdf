// The reconnect storm's baseline: bench/targets/raw-ws.ts's hand-written protocol v1 on `ws`, with
// the same drain as Talk's (each client closed with 1012 at a random moment in the jitter window).
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
import { decodeRequest, encodeError, encodeSuccess, encodeWelcome } from '../lib/raw-protocol'
import { rawRoutes, type Peer } from '../lib/raw-routes'
import { serveStorm } from './server-control'

/** A peer that does not answer the close frame is cut off after this long, ms (as Talk's drain does). */
const CLOSE_CUT_OFF_MS = 2000

const { rooms, routes } = rawRoutes()
const peers = new Set<Peer>()
let draining = false

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
