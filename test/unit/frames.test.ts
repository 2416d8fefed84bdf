import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ws from 'ws'
import { Writable } from 'node:stream'
import { assertUncompressed, encodeFrame, payloadBytes, skipFinishedEnds, type RawSocket } from '../../lib/frames'

/**
 * The ws minor the byte equality below was checked against. Moving ws to another minor means running
 * these tests on it, then moving this and package.json's "ws": "~<minor>.0" pin together.
 */
const CHECKED_WS_MINOR = '8.23'

interface FrameOptions {
  fin: boolean
  opcode: number
  mask: boolean
  readOnly: boolean
  rsv1: boolean
}
// ws exports its Sender (@types/ws leaves it out); Sender.frame() builds what ws itself writes.
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } }

/** What ws itself puts on the wire for a final, unmasked text frame carrying `text`. */
function wsFrame(text: string): Buffer {
  const list = Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false })
  return Buffer.concat(list)
}

describe('server frames', () => {
  // Around each length encoding: 7 bits, 16 bits, 64 bits; with text that is one, two and four bytes a character.
  const texts = [0, 1, 125, 126, 127, 65535, 65536, 70000].flatMap((n) => ['x'.repeat(n), 'é'.repeat(Math.ceil(n / 2)), '😀'.repeat(Math.ceil(n / 4))])

  it.each(texts.map((text) => [Buffer.byteLength(text), text] as const))('frames %i payload bytes exactly as ws does', (_bytes, text) => {
    expect(encodeFrame(text).equals(wsFrame(text))).toBe(true)
  })

  it('counts payload bytes the same for text and for its encoded frame', () => {
    for (const text of texts) {
      expect(payloadBytes(text)).toBe(Buffer.byteLength(text))
      expect(payloadBytes(encodeFrame(text))).toBe(Buffer.byteLength(text))
    }
  })
})

describe('the ws that Talk frames beside', () => {
  const root = join(__dirname, '..', '..')
  const version = (file: string): string => (JSON.parse(readFileSync(join(root, file), 'utf8')) as { version: string }).version

  it('is pinned in package.json to the minor the byte equality was checked against, and installed in it', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    expect(manifest.dependencies.ws).toBe(`~${CHECKED_WS_MINOR}.0`)
    expect(version('node_modules/ws/package.json').split('.').slice(0, 2).join('.')).toBe(CHECKED_WS_MINOR)
  })

  it('must be set up without compression: a server with perMessageDeflate on is refused at start-up', () => {
    expect(() => assertUncompressed(new ws.WebSocketServer({ noServer: true, perMessageDeflate: true }))).toThrow(/perMessageDeflate: false/)
    expect(() => assertUncompressed(new ws.WebSocketServer({ noServer: true, perMessageDeflate: {} }))).toThrow(/perMessageDeflate: false/)
    expect(() => assertUncompressed(new ws.WebSocketServer({ noServer: true, perMessageDeflate: false }))).not.toThrow()
  })
})

describe('the end() calls ws repeats on a closed connection', () => {
  /** A stream that finishes on end(), standing in for ws's receiver and the socket under it. */
  function sink(): Writable {
    return new Writable({ write: (_chunk, _encoding, done) => done() })
  }

  function withSkippedEnds(): { receiver: Writable; raw: Writable } {
    const receiver = sink()
    const raw = sink()
    skipFinishedEnds({ _receiver: receiver } as unknown as ws.WebSocket, raw as unknown as RawSocket)
    return { receiver, raw }
  }

  afterEach(() => jest.restoreAllMocks())

  it('skips end() on a finished stream, making no error', async () => {
    const { receiver, raw } = withSkippedEnds()
    receiver.end()
    raw.end()
    await Promise.all([new Promise((resolve) => receiver.once('finish', resolve)), new Promise((resolve) => raw.once('finish', resolve))])
    const end = jest.spyOn(Writable.prototype, 'end')
    expect(receiver.end()).toBe(receiver)
    expect(raw.end()).toBe(raw)
    expect(end).not.toHaveBeenCalled()
  })

  it('runs every other end() as before: the first one finishes the stream, one with a callback is told it finished already', async () => {
    const { raw } = withSkippedEnds()
    const finished = new Promise((resolve) => raw.once('finish', resolve))
    raw.end()
    await finished
    const told = await new Promise<Error | null | undefined>((resolve) => raw.end(resolve))
    expect(told).toMatchObject({ code: 'ERR_STREAM_ALREADY_FINISHED' })
  })

  it("leaves a stream whose end() is its own (wrapped by someone else) as it is", () => {
    const receiver = sink()
    const own = (): Writable => receiver
    receiver.end = own
    skipFinishedEnds({ _receiver: receiver } as unknown as ws.WebSocket, sink() as unknown as RawSocket)
    expect(receiver.end).toBe(own)
  })

  it('throws when ws keeps no receiver where Talk looks for it', () => {
    expect(() => skipFinishedEnds({} as ws.WebSocket, sink() as unknown as RawSocket)).toThrow(/_receiver/)
  })
})
