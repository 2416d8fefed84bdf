// A minimal WebSocket client (RFC 6455) for the load generator. The generator must not be what limits a
// run: a `ws` or Socket.IO client spends more CPU per frame than the fastest server here, so on two cores
// it, not the server, capped every throughput figure. This client does only what a benchmark over
// loopback needs: one upgrade, unfragmented text frames, ping/pong, close. Frames sent while a chunk
// is read leave in one write when the chunk is done, others at the end of the event-loop turn; it
// masks with an all-zero key (legal, and the server still unmasks every frame as for a real client).
import { createHash } from 'node:crypto'
import { connect as connectTcp, type Socket } from 'node:net'

const KEY = 'dGFsay1iZW5jaC1rZXkhIQ=='
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
const ACCEPT_HEADER = new RegExp(`^sec-websocket-accept: *${ACCEPT.replace(/[+/]/g, '\\$&')} *$`, 'im')
const MAX_HEAD_BYTES = 8192

const OPCODE_TEXT = 0x1
const OPCODE_CLOSE = 0x8
const OPCODE_PING = 0x9
const OPCODE_PONG = 0xa

/** What a light socket tells its owner. */
export interface LightSocketEvents {
  /** One text message. */
  text(text: string): void
  /** The connection broke the protocol or the socket failed; the socket is destroyed after. */
  error(error: Error): void
  /** The TCP connection has closed (after a close handshake or not). */
  closed(): void
}

/** Sockets with frames waiting: all are written at the end of the event-loop turn. */
const dirty = new Set<LightSocket>()
let flushScheduled = false

function flushAll(): void {
  flushScheduled = false
  for (const socket of dirty) socket.flush()
  dirty.clear()
}

/** One client connection after a successful upgrade; it reads nothing until `listen` is called. */
export class LightSocket {
  private buffered: Buffer | undefined
  private outgoing: { opcode: number; payload: string | Buffer }[] = []
  private closing = false
  private events: LightSocketEvents | undefined

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.received(chunk))
    socket.on('error', (error) => this.events?.error(error))
    socket.on('close', () => this.events?.closed())
  }

  /** Opens a TCP connection to 127.0.0.1:`port`, upgrades `path` with `headers`, and resolves once the server accepted. */
  static open(port: number, path: string, headers: Record<string, string>): Promise<LightSocket> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ host: '127.0.0.1', port, noDelay: true })
      let head: Buffer = Buffer.alloc(0)
      const fail = (error: Error): void => {
        socket.destroy()
        reject(error)
      }
      const onData = (chunk: Buffer): void => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end === -1) {
          if (head.length > MAX_HEAD_BYTES) fail(new Error('upgrade response head too long'))
          return
        }
        socket.off('data', onData)
        socket.off('error', fail)
        socket.off('close', onEarlyClose)
        const response = head.toString('latin1', 0, end)
        const status = /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]
        if (status !== '101') return fail(new Error(`HTTP ${status ?? '?'} on upgrade`))
        if (!ACCEPT_HEADER.test(response)) {
          return fail(new Error('upgrade answered without the right Sec-WebSocket-Accept'))
        }
        const light = new LightSocket(socket)
        if (head.length > end + 4) light.buffered = Buffer.from(head.subarray(end + 4))
        resolve(light)
      }
      const onEarlyClose = (): void => fail(new Error('closed before the upgrade was answered'))
      socket.on('data', onData)
      socket.once('error', fail)
      socket.once('close', onEarlyClose)
      const extra = Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('')
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
      )
    })
  }

  /** Starts delivering messages (those that came with the upgrade answer first) and the socket's end to `events`. */
  listen(events: LightSocketEvents): void {
    this.events = events
    if (this.socket.closed) return events.closed()
    const early = this.buffered
    this.buffered = undefined
    if (early !== undefined) this.received(early)
  }

  /** Queues one text frame; it leaves with the others of this turn. */
  send(text: string): void {
    this.queue(OPCODE_TEXT, text)
  }

  /** Starts the close handshake with `code`; `closed` follows once the server has closed the TCP connection. */
  close(code = 1000): void {
    if (this.closing) return
    this.closing = true
    const payload = Buffer.alloc(2)
    payload.writeUInt16BE(code)
    this.queue(OPCODE_CLOSE, payload)
  }

  /** Drops the TCP connection at once. */
  destroy(): void {
    this.socket.destroy()
  }

  /** Writes every queued frame in one socket write. */
  flush(): void {
    const frames = this.outgoing
    if (frames.length === 0 || this.socket.destroyed) return
    this.outgoing = []
    let total = 0
    for (const frame of frames) {
      const length = typeof frame.payload === 'string' ? Buffer.byteLength(frame.payload) : frame.payload.length
      total += headerLength(length) + length
    }
    const out = Buffer.allocUnsafe(total)
    let at = 0
    for (const frame of frames) {
      const length = typeof frame.payload === 'string' ? Buffer.byteLength(frame.payload) : frame.payload.length
      at = writeHeader(out, at, frame.opcode, length)
      at += typeof frame.payload === 'string' ? out.write(frame.payload, at) : frame.payload.copy(out, at)
    }
    this.socket.write(out)
  }

  private queue(opcode: number, payload: string | Buffer): void {
    this.outgoing.push({ opcode, payload })
    dirty.add(this)
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flushAll)
    }
  }

  private received(chunk: Buffer): void {
    const data = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk])
    this.buffered = undefined
    const events = this.events
    if (events === undefined) {
      this.buffered = Buffer.from(data)
      return
    }
    let at = 0
    while (data.length - at >= 2) {
      const first = data[at]!
      const second = data[at + 1]!
      const opcode = first & 0x0f
      if ((first & 0x80) === 0 || (first & 0x70) !== 0 || (second & 0x80) !== 0) {
        return this.broken(`a fragmented, extended or masked server frame (bytes ${first}, ${second})`)
      }
      let length = second & 0x7f
      let start = at + 2
      if (length === 126) {
        if (data.length - at < 4) break
        length = data.readUInt16BE(at + 2)
        start = at + 4
      } else if (length === 127) {
        if (data.length - at < 10) break
        length = Number(data.readBigUInt64BE(at + 2))
        start = at + 10
      }
      const end = start + length
      if (end > data.length) break
      at = end
      if (opcode === OPCODE_TEXT) events.text(data.toString('utf8', start, end))
      else if (opcode === OPCODE_PING) this.queue(OPCODE_PONG, Buffer.from(data.subarray(start, end)))
      else if (opcode === OPCODE_CLOSE) this.closedByServer(data.subarray(start, end))
      else if (opcode !== OPCODE_PONG) return this.broken(`an unexpected opcode ${opcode}`)
    }
    if (at < data.length) this.buffered = Buffer.from(data.subarray(at))
    // What the messages of this chunk made us send leaves now, as a client sends its next request on a reply.
    this.flush()
  }

  private closedByServer(payload: Buffer): void {
    if (!this.closing) {
      this.closing = true
      this.queue(OPCODE_CLOSE, Buffer.from(payload.subarray(0, 2)))
    }
  }

  private broken(what: string): void {
    this.events?.error(new Error(what))
    this.socket.destroy()
  }
}

function headerLength(length: number): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + 4
}

/** Writes a final, masked (all-zero key) frame header at `at`; returns where the payload goes. */
function writeHeader(out: Buffer, at: number, opcode: number, length: number): number {
  out[at] = 0x80 | opcode
  if (length < 126) {
    out[at + 1] = 0x80 | length
    at += 2
  } else if (length < 65536) {
    out[at + 1] = 0x80 | 126
    out.writeUInt16BE(length, at + 2)
    at += 4
  } else {
    out[at + 1] = 0x80 | 127
    out.writeBigUInt64BE(BigInt(length), at + 2)
    at += 10
  }
  out.writeUInt32BE(0, at)
  return at + 4
}
