// Baseline: a plain `ws` server speaking Talk protocol v1 by hand (parse, Map lookup, stringify, one send per reply).
import { WebSocketServer } from 'ws'
import { serveControl } from '../lib/control'
import { decodeRequest, encodeError, encodeSuccess, encodeWelcome } from '../lib/raw-protocol'
import { rawRoutes, type Peer } from '../lib/raw-routes'

const { rooms, routes } = rawRoutes()
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
