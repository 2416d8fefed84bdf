// examples/guide/rooms.ts
import { talk } from 'talk'
import { z } from 'zod'

export const app = talk()

app.handshake((hs) => {
  hs.user = { name: hs.query.user ?? 'guest' }
})

app.route('room/enter', async (ctx) => {
  const room = `room/${String(ctx.body.room)}`
  const previous = ctx.state.room
  if (typeof previous === 'string') ctx.leave(previous) // client state lives as long as the connection
  ctx.state.room = room
  ctx.join(room)
  const members = await ctx.presence(room)
  return { members: members.map((m) => m.user?.name) }
})

app.route('room/say', { body: z.object({ text: z.string().min(1).max(500) }) }, (ctx) => {
  const room = ctx.state.room
  if (typeof room !== 'string') return ctx.throw('BAD_REQUEST', 'Enter a room first')
  // Pushes { "command": "room:said", ... } to everyone else in the room.
  ctx.to(room).send('room:said', { from: ctx.client.user?.name, text: ctx.body.text })
})
