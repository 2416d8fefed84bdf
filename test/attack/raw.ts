import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

/** What an HTTP exchange over a raw socket gave back. */
export interface RawResponse {
  status: number
  /** Response headers, lower-case names. */
  headers: Record<string, string>
  body: string
}

/** Opens a TCP connection to the loopback port. */
export function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** The request line and headers of a WebSocket upgrade, with any extra header lines. */
export function upgradeRequest(port: number, options: { path?: string; headers?: Record<string, string> } = {}): string {
  const headers: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...options.headers,
  }
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  return `GET ${options.path ?? '/'} HTTP/1.1\r\n${lines}\r\n`
}

/** Resolves when the socket closes; never rejects (a reset counts as closed). */
export function closedSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve()
    socket.once('close', () => resolve())
    socket.on('error', () => undefined)
    // A socket nobody reads never sees the end of what the server sent (a 408, say), nor its close.
    socket.resume()
  })
}

/**
 * Sends raw bytes as an HTTP request and reads the response head (and the body the server sends
 * before closing, when it closes). Resolves with the first complete response.
 */
export async function rawHttp(port: number, request: string | Buffer): Promise<RawResponse & { socket: Socket; rest: Buffer }> {
  const socket = await tcp(port)
  socket.on('error', () => undefined)
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0)
    const done = (): void => {
      const end = buffer.indexOf('\r\n\r\n')
      if (end === -1) return reject(new Error(`no HTTP response (got ${JSON.stringify(buffer.toString().slice(0, 200))})`))
      const [statusLine = '', ...lines] = buffer.subarray(0, end).toString().split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      const status = Number(statusLine.split(' ')[1])
      const after = buffer.subarray(end + 4)
      // After a 101 the bytes are WebSocket frames; otherwise the body (by its length, or up to the close).
      if (headers['transfer-encoding'] === 'chunked') {
        resolve({ status, headers, body: dechunk(after), socket, rest: Buffer.alloc(0) })
        return
      }
      const length = status === 101 ? 0 : Number(headers['content-length'] ?? after.length)
      resolve({ status, headers, body: after.subarray(0, length).toString(), socket, rest: after.subarray(length) })
    }
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk])
      const end = buffer.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = buffer.subarray(0, end).toString()
      const length = /content-length: *(\d+)/i.exec(head)
      // 101 has no body; a response with a length is complete once its body is here.
      if (head.startsWith('HTTP/1.1 101') || (length !== null && buffer.length >= end + 4 + Number(length[1]))) {
        socket.off('data', onData)
        socket.off('close', done)
        done()
      }
    }
    socket.on('data', onData)
    socket.once('close', done)
    socket.write(request)
  })
}

/** The body of a chunked response read to its end. */
function dechunk(data: Buffer): string {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = data.indexOf('\r\n', at)
    if (eol === -1) break
    const size = parseInt(data.subarray(at, eol).toString(), 16)
    if (!(size > 0)) break
    parts.push(data.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(parts).toString()
}

/** A client → server WebSocket frame (masked unless told otherwise). */
export function frame(opcode: number, payload: Buffer | string, options: { fin?: boolean; mask?: boolean } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload
  const { fin = true, mask = true } = options
  const head: number[] = [(fin ? 0x80 : 0) | opcode]
  const maskBit = mask ? 0x80 : 0
  if (data.length < 126) head.push(maskBit | data.length)
  else if (data.length < 65536) head.push(maskBit | 126, data.length >> 8, data.length & 0xff)
  else {
    head.push(maskBit | 127, 0, 0, 0, 0)
    head.push((data.length >>> 24) & 0xff, (data.length >>> 16) & 0xff, (data.length >>> 8) & 0xff, data.length & 0xff)
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data])
  const key = randomBytes(4)
  const masked = Buffer.alloc(data.length)
  for (let i = 0; i < data.length; i++) masked[i] = (data[i] as number) ^ (key[i % 4] as number)
  return Buffer.concat([Buffer.from(head), key, masked])
}

/** One server → client frame as read off a raw socket. */
export interface ServerFrame {
  opcode: number
  payload: Buffer
}

/** Reads server frames off a raw socket after the 101 (starting with `initial` bytes already read). */
export class FrameReader {
  private buffer: Buffer
  private readonly frames: ServerFrame[] = []
  private waiter: (() => void) | undefined
  private ended = false

  constructor(socket: Socket, initial: Buffer = Buffer.alloc(0)) {
    this.buffer = initial
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      this.parse()
    })
    socket.on('close', () => {
      this.ended = true
      this.waiter?.()
    })
    this.parse()
  }

  /** The next frame, or undefined once the socket closed without one. */
  async next(): Promise<ServerFrame | undefined> {
    while (this.frames.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.waiter = resolve))
    return this.frames.shift()
  }

  /** Reads frames until a close frame and returns its code (undefined if the socket ended without one). */
  async closeCode(): Promise<number | undefined> {
    for (;;) {
      const f = await this.next()
      if (f === undefined) return undefined
      if (f.opcode === 8) return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005
    }
  }

  private parse(): void {
    for (;;) {
      const b = this.buffer
      if (b.length < 2) break
      let length = (b[1] as number) & 0x7f
      let offset = 2
      if (length === 126) {
        if (b.length < 4) break
        length = b.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (b.length < 10) break
        length = Number(b.readBigUInt64BE(2))
        offset = 10
      }
      if (b.length < offset + length) break
      this.frames.push({ opcode: (b[0] as number) & 0x0f, payload: b.subarray(offset, offset + length) })
      this.buffer = b.subarray(offset + length)
    }
    this.waiter?.()
  }
}

/** Completes a WebSocket upgrade by hand; resolves with the socket and a frame reader once the 101 arrived. */
export async function rawWebSocket(port: number, options: { path?: string; headers?: Record<string, string> } = {}): Promise<{ socket: Socket; frames: FrameReader }> {
  const response = await rawHttp(port, upgradeRequest(port, options))
  if (response.status !== 101) throw new Error(`HTTP ${response.status}`)
  const frames = new FrameReader(response.socket, response.rest)
  return { socket: response.socket, frames }
}
