// The cost of checking replies against their route's `reply` schema (validateReplies), in process:
// the same route answered N times through the app's request entry (requestEntry(app).handle()) with the check on and off, interleaved rounds.
// Run: npx ts-node --transpile-only bench/reply-schema.ts
import pino from 'pino'
import { z } from 'zod'
import { talk, type Client, type Context, type Responder } from '../index'
import { requestEntry } from '../lib/app'

const ROUNDS = 5
const REQUESTS = 100_000

const Node = z.object({ id: z.number(), type: z.string(), data: z.object({ name: z.string(), done: z.boolean() }) })
const spec = { reply: z.object({ node: Node, version: z.number() }) }

function app(validateReplies: boolean) {
  const a = talk({ logger: pino({ level: 'silent' }), rateLimit: false, validateReplies })
  a.route('node/get', spec, () => ({ node: { id: 7, type: '/type/task', data: { name: 'A new task', done: false } }, version: 12 }))
  return a
}

const client = { id: 'bench', user: undefined, state: {}, rooms: new Set<string>(), handshake: {} } as unknown as Client
let written = 0
const responder: Responder = {
  success(_ctx: Context, payload: object | undefined) {
    written += JSON.stringify(payload).length
  },
  failure() {
    throw new Error('unexpected failure')
  },
}

function run(validate: boolean): number {
  const a = requestEntry(app(validate))
  const envelope = { name: 'node/get', ref: 1, body: {} }
  const start = process.hrtime.bigint()
  for (let i = 0; i < REQUESTS; i++) void a.handle(client, responder, envelope)
  return Number(process.hrtime.bigint() - start) / 1000 / REQUESTS
}

const on: number[] = []
const off: number[] = []
run(true)
run(false)
for (let r = 0; r < ROUNDS; r++) {
  on.push(run(true))
  off.push(run(false))
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
console.log(`node ${process.version}, ${REQUESTS} requests x ${ROUNDS} rounds, median µs per request (handle + JSON of the payload)`)
console.log(`validateReplies on:  ${median(on).toFixed(2)} µs  (${on.map((x) => x.toFixed(2)).join(', ')})`)
console.log(`validateReplies off: ${median(off).toFixed(2)} µs  (${off.map((x) => x.toFixed(2)).join(', ')})`)
console.log(`check costs ${(median(on) - median(off)).toFixed(2)} µs per reply (${written > 0 ? 'payloads written' : ''})`)
