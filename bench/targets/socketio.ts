// Baseline: a Socket.IO 4 server, websocket transport only; requests are events with acks, fan-out is rooms.
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { isRecord, serveControl } from '../lib/control'

type Ack = (reply: object) => void

const http = createServer()
const io = new Server(http, { transports: ['websocket'], serveClient: false })

io.on('connection', (socket) => {
  socket.on('echo', (body: unknown, ack: Ack) => ack({ echo: body }))
  socket.on('join', (body: unknown, ack: Ack) => {
    if (!isRecord(body) || typeof body['room'] !== 'string') return ack({ error: { code: 'BAD_REQUEST', message: 'room' } })
    void socket.join(body['room'])
    ack({})
  })
  socket.on('publish', (body: unknown, ack: Ack) => {
    if (!isRecord(body) || typeof body['room'] !== 'string') return ack({ error: { code: 'BAD_REQUEST', message: 'room' } })
    socket.to(body['room']).emit('news', body)
    ack({})
  })
})

http.listen(0, '127.0.0.1', () => {
  const address = http.address()
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address')
  serveControl(address.port)
})
