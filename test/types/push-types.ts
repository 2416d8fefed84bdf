// Compile-time checks of typed pushes and handler results: `npm test` runs `tsc --noEmit` over this
// file. Every `@ts-expect-error` line must fail to compile, or tsc reports the directive as unused.
import { z } from 'zod'
import { talk } from '../../index'
import { connect } from '../../lib/client'

// Names unique to this file: declaration merging reaches the whole program.
declare module 'talk' {
  interface Pushes {
    'typed:said': { text: string; from: string }
    'typed:cleared': { at: number }
  }
}

export function serverPushes(): void {
  const app = talk()
  app.route('typed/say', (ctx) => {
    ctx.to('room').send('typed:said', { text: 'hi', from: 'ann' })
    // Slash form is the same name, and typed the same.
    ctx.to('room').send('typed/said', { text: 'hi', from: 'ann' })
    // @ts-expect-error -- text must be a string
    ctx.to('room').send('typed:said', { text: 1, from: 'ann' })
    // @ts-expect-error -- from is missing
    ctx.broadcast('typed:said', { text: 'hi' })
    // @ts-expect-error -- not a field of typed:cleared
    ctx.send('typed:cleared', { at: 1, by: 'bob' })
    // An undeclared push stays an open object.
    ctx.to('room').send('anything:else', { whatever: true })
  })
  app.to('room').send('typed:cleared', { at: Date.now() })
  // @ts-expect-error -- at is a number
  app.to('room').send('typed:cleared', { at: 'now' })
}

export async function clientPushes(): Promise<void> {
  const client = await connect('ws://127.0.0.1:3000')
  client.on('typed:said', (m) => {
    const text: string = m.text
    // @ts-expect-error -- a string, not a number
    const wrong: number = m.from
    void [text, wrong]
  })
  client.on('typed/cleared', (m) => {
    const at: number = m.at
    void at
  })
  // An undeclared push is a loose record.
  client.on('other:push', (m) => {
    const value: unknown = m.anything
    void value
  })
}

export function handlerResults(): void {
  const app = talk()
  // @ts-expect-error -- a handler returns a plain object (its reply) or nothing, not a string
  app.route('typed/string', () => 'hello')
  // @ts-expect-error -- nor a number from an async handler
  app.route('typed/number', async () => 42)
  app.route('typed/reply', (ctx) => ctx.reply({ ok: true }))
  app.route('typed/nothing', () => undefined)
  app.route('typed/sent', { reply: z.object({ sent: z.boolean() }) }, () => ({ sent: true }))
  // @ts-expect-error -- the reply schema says sent is a boolean
  app.route('typed/sent-wrong', { reply: z.object({ sent: z.boolean() }) }, () => ({ sent: 'yes' }))
  // @ts-expect-error -- a middleware returns void or a promise of void
  app.use((_ctx, next) => next().then(() => 1))
}
