import { io, type Socket } from 'socket.io-client'
import { WebSocket, type RawData } from 'ws'
import { isRecord } from '../lib/control'
import type { Job } from '../lib/scenarios'
import { short, type Checks } from './checks'

/** A decoded reply or push. */
export type Frame = Record<string, unknown>

/** One client connection, whatever the target's dialect. */
export interface Wire {
  /** The id the server gave this client (welcome frame, or the Socket.IO id). */
  readonly clientId: string
  /** Sends a request; resolves with its success reply, rejects on an error reply or a ref out of order. */
  request(command: string, body: Frame): Promise<Frame>
  /** Where pushes go; without a listener every push counts as a failed check. */
  onPush(listener: (command: string, payload: Frame) => void): void
  /** Closes the connection; resolves once the close is done on this side. */
  close(): Promise<void>
}

/** Opens one connection that has received its welcome. */
export type Connect = () => Promise<Wire>

interface Pending {
  ref: number
  resolve: (frame: Frame) => void
  reject: (error: Error) => void
}

/** Talk protocol v1 over `ws`: replies are matched to requests by ref, in order. */
class TalkWire implements Wire {
  private readonly pending: Pending[] = []
  private nextRef = 1
  private listener: ((command: string, payload: Frame) => void) | undefined

  constructor(
    private readonly socket: WebSocket,
    readonly clientId: string,
    private readonly checks: Checks,
  ) {
    socket.on('message', (data) => this.onFrame(data))
    socket.on('error', (error) => checks.fail(`socket error: ${error.message}`))
    socket.on('close', () => {
      for (const waiting of this.pending.splice(0)) waiting.reject(new Error('closed with the request unanswered'))
    })
  }

  request(command: string, body: Frame): Promise<Frame> {
    const ref = this.nextRef++
    this.socket.send(JSON.stringify({ command, ref, ...body }))
    return new Promise((resolve, reject) => this.pending.push({ ref, resolve, reject }))
  }

  onPush(listener: (command: string, payload: Frame) => void): void {
    this.listener = listener
  }

  close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve())
      this.socket.close(1000)
    })
  }

  private onFrame(data: RawData): void {
    let frame: unknown
    try {
      frame = JSON.parse(data.toString())
    } catch {
      return this.checks.fail('a frame that is not JSON')
    }
    if (!isRecord(frame)) return this.checks.fail(`a frame that is not an object: ${short(frame)}`)
    if ('status' in frame) {
      // Replies come in request order (DESIGN §1 rule 2), so the oldest pending request is the one answered.
      const waiting = this.pending.shift()
      if (!waiting) return this.checks.fail(`a reply nobody asked for: ${short(frame)}`)
      if (frame['ref'] !== waiting.ref) return waiting.reject(new Error(`ref ${waiting.ref} due, got ${short(frame)}`))
      if (frame['status'] !== 'success') return waiting.reject(new Error(`error reply: ${short(frame)}`))
      return waiting.resolve(frame)
    }
    const command = frame['command']
    if (typeof command !== 'string') return this.checks.fail(`neither reply nor push: ${short(frame)}`)
    if (!this.listener) return this.checks.fail(`a push to a client that expects none: ${short(frame)}`)
    this.listener(command, frame)
  }
}

function connectTalk(url: string, token: string, checks: Checks): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      // An all-zero mask lets ws skip masking on this side (loopback only): less load-generator CPU,
      // while the server still unmasks every frame as it would for a real client.
      generateMask: (mask) => mask.fill(0),
    })
    const fail = (error: Error): void => {
      socket.removeAllListeners()
      socket.on('error', () => undefined)
      socket.terminate()
      reject(error)
    }
    socket.once('unexpected-response', (_request, response) => fail(new Error(`HTTP ${response.statusCode} on upgrade`)))
    socket.once('error', fail)
    socket.once('close', () => fail(new Error('closed before the welcome')))
    socket.once('message', (data) => {
      socket.removeAllListeners()
      let welcome: unknown
      try {
        welcome = JSON.parse(data.toString())
      } catch {
        return fail(new Error('a welcome that is not JSON'))
      }
      if (!isRecord(welcome) || welcome['command'] !== 'welcome' || welcome['protocol'] !== 1) {
        return fail(new Error(`first frame is not a v1 welcome: ${short(welcome)}`))
      }
      const client = welcome['client']
      if (typeof client !== 'string' || client === '') return fail(new Error(`welcome without a client id: ${short(welcome)}`))
      resolve(new TalkWire(socket, client, checks))
    })
  })
}

/** Socket.IO 4: requests are events with an ack, pushes are events. */
class SocketIoWire implements Wire {
  constructor(
    private readonly socket: Socket,
    private readonly checks: Checks,
  ) {
    socket.onAny((event: string, payload: unknown) => checks.fail(`a push to a client that expects none: ${event} ${short(payload)}`))
  }

  get clientId(): string {
    return this.socket.id ?? ''
  }

  request(command: string, body: Frame): Promise<Frame> {
    return new Promise((resolve, reject) => {
      this.socket.emit(command, body, (reply: unknown) => {
        if (!isRecord(reply)) return reject(new Error(`an ack that is not an object: ${short(reply)}`))
        if ('error' in reply) return reject(new Error(`error ack: ${short(reply)}`))
        resolve(reply)
      })
    })
  }

  onPush(listener: (command: string, payload: Frame) => void): void {
    this.socket.offAny()
    this.socket.onAny((event: string, payload: unknown) => {
      if (!isRecord(payload)) return this.checks.fail(`a push that is not an object: ${event} ${short(payload)}`)
      listener(event, payload)
    })
  }

  close(): Promise<void> {
    this.socket.disconnect()
    return Promise.resolve()
  }
}

function connectSocketIo(url: string, token: string, checks: Checks): Promise<Wire> {
  return new Promise((resolve, reject) => {
    // forceNew: one engine (one WebSocket) per client, never a multiplexed one.
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      extraHeaders: { authorization: `Bearer ${token}` },
    })
    socket.once('connect', () => resolve(new SocketIoWire(socket, checks)))
    socket.once('connect_error', (error: Error) => {
      socket.close()
      reject(error)
    })
  })
}

/** A connector for the job's target, on 127.0.0.1 only. */
export function connector(job: Job, checks: Checks): Connect {
  const url = `${job.dialect === 'talk' ? 'ws' : 'http'}://127.0.0.1:${job.port}`
  return job.dialect === 'talk' ? () => connectTalk(url, job.token, checks) : () => connectSocketIo(url, job.token, checks)
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
