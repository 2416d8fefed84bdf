import type { WebSocket, WebSocketServer } from 'ws'

/**
 * Server-to-client WebSocket frames built by Talk itself (RFC 6455 §5.2: final, text, unmasked, no
 * extension bits), so a frame is one Buffer written straight to the socket. A push to many clients is
 * framed once and the same bytes go to every socket.
 *
 * This file is the one place that knows Talk writes past ws: the socket under a ws WebSocket
 * (`rawSocket`), and what the server must be set up with for that to hold (`assertUncompressed`). The
 * frames are byte-equal to ws's own (test/unit/frames.test.ts), for the ws minor package.json pins.
 * It is also the one place that reaches ws's receiver (`skipFinishedEnds`, a cost of ws's close).
 */

/** A complete server-to-client text frame, header and payload: written as it is, to any number of sockets. */
export type EncodedFrame = Buffer & { readonly encodedFrame: true }

/** What a connection writes: JSON text (framed as it is written) or a frame already encoded. */
export type Outgoing = string | EncodedFrame

const FIN_TEXT = 0x81

/** Bytes of the header in front of a payload of `length` bytes. */
function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10
}

/** Frames one text message: the header, then the UTF-8 bytes of `text`, in one Buffer. */
export function encodeFrame(text: string): EncodedFrame {
  return encodeFrameHead(text, 0) as EncodedFrame
}

/**
 * The start of a text frame whose payload is `head` followed by `restBytes` bytes written after it
 * (bytes kept and shared, such as an `EncodedReply`'s): the header and the UTF-8 bytes of `head`.
 */
export function encodeFrameHead(head: string, restBytes: number): Buffer {
  const headBytes = Buffer.byteLength(head)
  const length = headBytes + restBytes
  const header = headerLength(length)
  const frame = Buffer.allocUnsafe(header + headBytes)
  frame[0] = FIN_TEXT
  if (header === 2) {
    frame[1] = length
  } else if (header === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  frame.write(head, header, headBytes, 'utf8')
  return frame
}

/** The text a connection writes: `frame` itself, or an encoded frame's payload (to carry it to another node). */
export function frameText(frame: Outgoing): string {
  if (typeof frame === 'string') return frame
  const short = frame[1]! & 0x7f
  return frame.toString('utf8', short === 127 ? 10 : short === 126 ? 4 : 2)
}

/** Bytes of a frame's payload: the UTF-8 length of its text. */
export function payloadBytes(frame: Outgoing): number {
  if (typeof frame === 'string') return Buffer.byteLength(frame)
  const short = frame[1]! & 0x7f
  return frame.length - (short === 127 ? 10 : short === 126 ? 4 : 2)
}

/** The TCP socket under a ws WebSocket, as Talk uses it: corked, written to, and told of each chunk read. */
export interface RawSocket {
  cork(): void
  uncork(): void
  write(chunk: Uint8Array): boolean
  /** Called after ws's own 'data' listener, so the messages of the chunk have been handled. */
  on(event: 'data', listener: () => void): void
  /** Called once everything written has left, after a write found the buffer full. */
  on(event: 'drain', listener: () => void): void
}

/**
 * The socket under `socket`, which ws keeps private (`_socket`): Talk's frames go straight to it, in
 * order with ws's own (close, pong), and it is corked to batch them. Throws if ws no longer keeps it there.
 */
export function rawSocket(socket: WebSocket): RawSocket {
  const raw = (socket as unknown as { _socket?: RawSocket })._socket
  if (raw === undefined || typeof raw.write !== 'function') {
    throw new Error('ws keeps no _socket on its WebSocket: this ws is not the version lib/frames.ts was written for (see package.json)')
  }
  return raw
}

/** A stream whose `end()` can be given an own, cheaper version (a net socket, ws's receiver). */
interface Endable {
  end(chunk?: unknown, encoding?: unknown, callback?: unknown): unknown
  readonly writableFinished: boolean
  readonly writableCorked: number
}

/**
 * Makes the `end()` calls ws repeats on a closing connection cost nothing. Once the close handshake
 * is done, ws ends the receiver and the socket that have finished already (on the socket's 'end',
 * then its 'close'): each such call makes an `ERR_STREAM_ALREADY_FINISHED`, stack trace and all, and
 * drops it, about a tenth of a connect-and-close cycle. Only that call is skipped (finished, no data,
 * no callback, not corked); every other `end()` runs as it was. Throws if ws keeps no receiver.
 */
export function skipFinishedEnds(socket: WebSocket, raw: RawSocket): void {
  const receiver = (socket as unknown as { _receiver?: Endable })._receiver
  if (receiver === undefined || receiver === null || typeof receiver.end !== 'function') {
    throw new Error('ws keeps no _receiver on its WebSocket: this ws is not the version lib/frames.ts was written for (see package.json)')
  }
  // A stream whose end() is its own already (wrapped by someone else) keeps it: only the prototype's is replaced.
  if (!Object.hasOwn(receiver, 'end')) receiver.end = endUnlessFinished
  if (!Object.hasOwn(raw, 'end')) (raw as unknown as Endable).end = endUnlessFinished
}

/** `end()` for streams done already, else the prototype's: shared by every socket and receiver (no closure each). */
function endUnlessFinished(this: Endable, chunk?: unknown, encoding?: unknown, callback?: unknown): unknown {
  if (chunk === undefined && callback === undefined && encoding === undefined && this.writableFinished && this.writableCorked === 0) return this
  return (Object.getPrototypeOf(this) as Endable).end.call(this, chunk, encoding, callback)
}

/**
 * Throws at start-up unless `server` was set up with `perMessageDeflate: false`. Talk's frames carry no
 * compression bit and bypass ws's sender, which with compression on queues its own frames (close,
 * pong) behind zlib: they could then leave out of order with Talk's, and the clients would be told
 * compression is on for messages that never use it.
 */
export function assertUncompressed(server: WebSocketServer): void {
  if (server.options.perMessageDeflate !== false) {
    throw new Error('Talk writes its own uncompressed frames: its WebSocketServer must be set up with perMessageDeflate: false')
  }
}
