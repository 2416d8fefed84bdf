import { isRecord } from '../lib/control'
import type { Job } from '../lib/scenarios'
import { short, type Checks } from './checks'
import { LightSocket } from './light-socket'

/** A decoded reply or push. */
export type Frame = Record<string, unknown>

/** One client connection, whatever the target's dialect. */
export interface Wire {
  /** The id the server gave this client (welcome frame, or the Socket.IO id). */
  readonly clientId: string
  /** Sends a request; resolves with its success reply, rejects on an error reply or a ref out of order. */
  request(command: string, body: Frame): Promise<Frame>
  /** `request` without a promise, for the hot loops: `done` gets the error or the success reply. */
  call(command: string, body: Frame, done: Done): void
  /** Where pushes go; without a listener every push counts as a failed check. */
  onPush(listener: (command: string, payload: Frame) => void): void
  /** Closes the connection; resolves once the close is done on this side. */
  close(): Promise<void>
}

/** Opens one connection that has received its welcome. */
export type Connect = () => Promise<Wire>

/** Told how a request ended: an error (error reply, ref out of order, closed) or the success reply. */
export type Done = (error: Error | undefined, reply: Frame | undefined) => void

interface Pending {
  ref: number
  done: Done
}

/** What both dialects share: requests as promises over `call`, the push listener, and the close. */
abstract class LightWire implements Wire {
  abstract readonly clientId: string
  protected listener: ((command: string, payload: Frame) => void) | undefined
  private closing = false
  private readonly ended: Promise<void>
  private markEnded: () => void = () => undefined

  constructor(
    protected readonly socket: LightSocket,
    protected readonly checks: Checks,
  ) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve))
  }

  abstract call(command: string, body: Frame, done: Done): void

  request(command: string, body: Frame): Promise<Frame> {
    return new Promise((resolve, reject) => this.call(command, body, (error, reply) => (error === undefined ? resolve(reply!) : reject(error))))
  }

  onPush(listener: (command: string, payload: Frame) => void): void {
    this.listener = listener
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true
      this.sayGoodbye()
    }
    return this.ended
  }

  /** The TCP connection has closed: unanswered requests fail, `close()` callers resume. */
  closed(): void {
    this.closing = true
    this.failUnanswered(new Error('closed with the request unanswered'))
    this.markEnded()
  }

  /** Ends the conversation from this side (the close handshake, and whatever the dialect says first). */
  protected sayGoodbye(): void {
    this.socket.close(1000)
  }

  protected abstract failUnanswered(error: Error): void
}

/** Talk protocol v1: replies are matched to requests by ref, in order. */
class TalkWire extends LightWire {
  private readonly pending: Pending[] = []
  private nextRef = 1

  constructor(
    socket: LightSocket,
    readonly clientId: string,
    checks: Checks,
  ) {
    super(socket, checks)
  }

  call(command: string, body: Frame, done: Done): void {
    const ref = this.nextRef++
    const fields = JSON.stringify(body)
    this.socket.send(`{"command":${JSON.stringify(command)},"ref":${ref}${fields === '{}' ? '}' : `,${fields.slice(1)}`}`)
    this.pending.push({ ref, done })
  }

  protected failUnanswered(error: Error): void {
    for (const waiting of this.pending.splice(0)) waiting.done(error, undefined)
  }

  onFrame(text: string): void {
    const frame = parseJson(text)
    if (!isRecord(frame)) return this.checks.fail(`a frame that is not a JSON object: ${short(text)}`)
    if ('status' in frame) {
      // Replies come in request order (DESIGN §1 rule 2), so the oldest pending request is the one answered.
      const waiting = this.pending.shift()
      if (!waiting) return this.checks.fail(`a reply nobody asked for: ${short(frame)}`)
      if (frame['ref'] !== waiting.ref) return waiting.done(new Error(`ref ${waiting.ref} due, got ${short(frame)}`), undefined)
      if (frame['status'] !== 'success') return waiting.done(new Error(`error reply: ${short(frame)}`), undefined)
      return waiting.done(undefined, frame)
    }
    const command = frame['command']
    if (typeof command !== 'string') return this.checks.fail(`neither reply nor push: ${short(frame)}`)
    if (!this.listener) return this.checks.fail(`a push to a client that expects none: ${short(frame)}`)
    this.listener(command, frame)
  }
}

async function connectTalk(port: number, token: string, checks: Checks): Promise<Wire> {
  const socket = await LightSocket.open(port, '/', { authorization: `Bearer ${token}` })
  return new Promise((resolve, reject) => {
    let wire: TalkWire | undefined
    const fail = (error: Error): void => {
      socket.destroy()
      reject(error)
    }
    socket.listen({
      text(text) {
        if (wire !== undefined) return wire.onFrame(text)
        const welcome = parseJson(text)
        if (!isRecord(welcome) || welcome['command'] !== 'welcome' || welcome['protocol'] !== 1) {
          return fail(new Error(`first frame is not a v1 welcome: ${short(text)}`))
        }
        const client = welcome['client']
        if (typeof client !== 'string' || client === '') return fail(new Error(`welcome without a client id: ${short(welcome)}`))
        wire = new TalkWire(socket, client, checks)
        resolve(wire)
      },
      error(error) {
        if (wire === undefined) fail(error)
        else checks.fail(`socket error: ${error.message}`)
      },
      closed() {
        if (wire === undefined) fail(new Error('closed before the welcome'))
        else wire.closed()
      },
    })
  })
}

/**
 * Socket.IO 4 over its websocket transport, spoken by hand (Engine.IO v4 packets inside WebSocket text
 * frames): `0{…}` open, `40` connect, `42id[event, body]` an event with an ack, `43id[reply]` the ack,
 * `2`/`3` ping/pong, `41` disconnect. Requests are events with an ack, pushes are events.
 */
class SocketIoWire extends LightWire {
  private readonly acks = new Map<number, Pending>()
  private nextAck = 0
  clientId = ''

  call(command: string, body: Frame, done: Done): void {
    const ref = this.nextAck++
    this.socket.send(`42${ref}${JSON.stringify([command, body])}`)
    this.acks.set(ref, { ref, done })
  }

  protected override sayGoodbye(): void {
    this.socket.send('41')
    super.sayGoodbye()
  }

  protected failUnanswered(error: Error): void {
    for (const waiting of this.acks.values()) waiting.done(error, undefined)
    this.acks.clear()
  }

  /** One Engine.IO packet; resolves `connected` with the Socket.IO id on the namespace's connect. */
  onPacket(text: string, connected: (id: string) => void): void {
    if (text === '2') return this.socket.send('3')
    if (text.startsWith('43')) return this.ack(text)
    if (text.startsWith('42')) return this.event(text)
    if (text.startsWith('40')) {
      const id = parseObject(text.slice(2))?.['sid']
      if (typeof id !== 'string' || id === '') return this.checks.fail(`a connect without a socket id: ${short(text)}`)
      this.clientId = id
      return connected(id)
    }
    if (text.startsWith('0')) return this.socket.send('40')
    this.checks.fail(`an unexpected Socket.IO packet: ${short(text)}`)
  }

  private ack(text: string): void {
    const open = text.indexOf('[')
    const id = Number(text.slice(2, open))
    const waiting = this.acks.get(id)
    if (open === -1 || waiting === undefined) return this.checks.fail(`an ack nobody asked for: ${short(text)}`)
    this.acks.delete(id)
    const args = parseJson(text.slice(open))
    const reply: unknown = Array.isArray(args) ? args[0] : undefined
    if (!isRecord(reply)) return waiting.done(new Error(`an ack that is not an object: ${short(text)}`), undefined)
    if ('error' in reply) return waiting.done(new Error(`error ack: ${short(reply)}`), undefined)
    waiting.done(undefined, reply)
  }

  private event(text: string): void {
    const args = parseJson(text.slice(2))
    const [event, payload] = Array.isArray(args) ? (args as unknown[]) : []
    if (typeof event !== 'string' || !isRecord(payload)) return this.checks.fail(`a push that is not an event with an object: ${short(text)}`)
    if (!this.listener) return this.checks.fail(`a push to a client that expects none: ${event} ${short(payload)}`)
    this.listener(event, payload)
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function parseObject(text: string): Frame | undefined {
  const value = parseJson(text)
  return isRecord(value) ? value : undefined
}

async function connectSocketIo(port: number, token: string, checks: Checks): Promise<Wire> {
  const socket = await LightSocket.open(port, '/socket.io/?EIO=4&transport=websocket', { authorization: `Bearer ${token}` })
  return new Promise((resolve, reject) => {
    const wire = new SocketIoWire(socket, checks)
    let connected = false
    const fail = (error: Error): void => {
      socket.destroy()
      reject(error)
    }
    socket.listen({
      text(text) {
        wire.onPacket(text, () => {
          connected = true
          resolve(wire)
        })
      },
      error(error) {
        if (!connected) fail(error)
        else checks.fail(`socket error: ${error.message}`)
      },
      closed() {
        if (!connected) fail(new Error('closed before the Socket.IO connect'))
        else wire.closed()
      },
    })
  })
}

/** A connector for the job's target, on 127.0.0.1 only. */
export function connector(job: Job, checks: Checks): Connect {
  return job.dialect === 'talk' ? () => connectTalk(job.port, job.token, checks) : () => connectSocketIo(job.port, job.token, checks)
}

/** Opens `count` connections, at most `concurrency` handshakes at a time. */
export async function connectMany(connect: Connect, count: number, concurrency = 64): Promise<Wire[]> {
  const wires: Wire[] = []
  let started = 0
  async function worker(): Promise<void> {
    while (started < count) {
      started++
      wires.push(await connect())
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  return wires
}

/** Closes every wire, `concurrency` at a time. */
export async function closeAll(wires: readonly Wire[], concurrency = 256): Promise<void> {
  let next = 0
  async function worker(): Promise<void> {
    while (next < wires.length) await wires[next++]?.close()
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, wires.length) }, worker))
}
