// The hand-written baseline's three routes (echo, join, publish) on plain `ws`, shared by the
// raw-ws target and the reconnect storm's baseline server.
import type { WebSocket } from 'ws'
import { encodePush } from './raw-protocol'

/** One connected client of a hand-written server. */
export interface Peer {
  id: string
  socket: WebSocket
  rooms: Set<string>
}

/** A hand-written route: the reply payload for a request body. */
export type Handler = (peer: Peer, body: Record<string, unknown>) => object

/** The baseline's rooms and routes: `echo` replies `{ echo: body }`, `join` enters `body.room`, `publish` pushes `news` to the room's others. */
export function rawRoutes(): { rooms: Map<string, Set<Peer>>; routes: Map<string, Handler> } {
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
  return { rooms, routes }
}
