import { Writable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import pino, { type Logger } from 'pino'
import { z } from 'zod'
import { talk, type TalkApp, type TalkOptions } from '../../index'
import { testServer, type TestServer } from '../../lib/testing'
import { auth } from '../../middleware/auth'
import { logger } from '../../middleware/logger'

/** The one credential of the hostile app; it must never appear in a log line. */
export const SECRET = 'tk_4f1c9a7e2b6d8053_SECRET'

/** Every log line an app wrote, as text, at the most verbose level. */
export class LogCapture {
  readonly lines: string[] = []
  readonly logger: Logger

  constructor() {
    const lines = this.lines
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    this.logger = pino({ level: 'trace' }, stream)
  }

  /** All lines in one string. */
  text(): string {
    return this.lines.join('')
  }
}

let collect: (() => void) | undefined

/** The heap in use after full garbage collections (gc exposed through V8 flags, no CLI switch needed). */
export async function heapAfterGc(): Promise<number> {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc')
    collect = runInNewContext('gc') as () => void
  }
  for (let i = 0; i < 3; i++) {
    collect()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

/** Bodies the hostile app's schema accepts: every string and array capped. */
export const DocumentBody = z.object({
  id: z.string().min(1).max(100),
  tags: z.array(z.string().max(50)).max(20).optional(),
})

/**
 * The app every attack hits: the bundled logger (bodies included) and auth (token from the query
 * string, the Authorization header or a `bearer.` subprotocol; anonymous allowed), an echo route,
 * a validated route and a pattern route, with every log line captured.
 */
export function hostileApp(capture: LogCapture, options: TalkOptions = {}): TalkApp {
  const app = talk({ logger: capture.logger, heartbeatInterval: 0, ...options })
  app.use(logger({ body: true }))
  app.use(
    auth({
      from: ['query', 'header', 'protocol'],
      optional: true,
      verify: (token) => (token === SECRET ? { user: { id: 'alice' } } : undefined),
    }),
  )
  app.route('echo', (ctx) => ({ body: ctx.body }))
  app.route('ping', () => ({ pong: true }))
  app.route('whoami', (ctx) => ({ user: ctx.client.user ?? null }))
  app.route('document/create', { body: DocumentBody }, (ctx) => ({ id: ctx.body.id, tags: ctx.body.tags ?? [] }))
  app.route('document/:id/nodes', (ctx) => ({ id: ctx.params.id }))
  app.route('files/*rest', (ctx) => ({ rest: ctx.params.rest }))
  return app
}

/** A hostile app on a free port, with its log capture. */
export async function hostileServer(options: TalkOptions = {}): Promise<{ server: TestServer; capture: LogCapture }> {
  const capture = new LogCapture()
  const server = await testServer(hostileApp(capture, options))
  return { server, capture }
}

/** Connects a fresh, well-behaved client and checks the server still answers it. */
export async function stillServes(server: TestServer): Promise<void> {
  const bystander = await server.client()
  const reply = await bystander.request('ping', {}, { ref: 'bystander' })
  await bystander.close()
  if (JSON.stringify(reply) !== JSON.stringify({ status: 'success', ref: 'bystander', pong: true })) {
    throw new Error(`the server stopped answering: ${JSON.stringify(reply)}`)
  }
}
