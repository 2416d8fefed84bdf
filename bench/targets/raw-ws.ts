// Baseline: a plain `ws` server speaking Talk protocol v1 by hand (parse, Map lookup, stringify, one send per reply).
import { WebSocketServer, type WebSocket } from 'ws'
import { serveControl } from '../lib/control'
import { decodeRequest, encodeError, encodePush, encodeSuccess, encodeWelcome } from '../lib/raw-protocol'

interface Peer {
  id: string
  socket: WebSocket
  rooms: Set<string>
}

type Handler = (peer: Peer, body: Record<string, unknown>) => object

const rooms = new Map<string, Set<Peer>>()

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
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })

wss.on('connection', (socket) => {
  const peer: Peer = { id: `c${++nextId}`, socket, rooms: new Set() }
  socket.send(encodeWelcome(peer.id))
  socket.on('message', (data, isBinary) => {
    const request = decodeRequest(data, isBinary)
    if ('error' in request) return socket.send(encodeError(request.ref, 'BAD_REQUEST', request.error))
    const handler = routes.get(request.name)
    if (!handler) return socket.send(encodeError(request.ref, 'NOT_FOUND', `No route ${request.name}`))
    socket.send(encodeSuccess(request.ref, handler(peer, request.body)))
  })
  socket.on('close', () => {
    for (const room of peer.rooms) {
      const members = rooms.get(room)
      members?.delete(peer)
      if (members?.size === 0) rooms.delete(room)
    }
  })
})

wss.on('listening', () => {
  const address = wss.address()
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address')
  serveControl(address.port)
})
