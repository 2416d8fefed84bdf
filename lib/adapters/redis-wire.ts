/**
 * The messages Talk nodes exchange on Redis channels. A message is one JSON header line, then the
 * push frame(s) exactly as the sending node encoded them:
 *
 * - `["r", origin, rooms, except, seq?]\n<frame>`: a push to rooms (`except`: a client id or null);
 * - `["c", origin, clientId, seq?]\n<frame>`: a push to one client;
 * - `["o", origin, rooms, except, id]\n<frame>`: an ordered push, published by a store with its write;
 * - `["b", origin, [entry, …], seq?]\n<frame><frame>…`: what one node published to one channel in one
 *   event-loop turn, each entry `["r", rooms, except, length]` or `["c", clientId, length]`, the
 *   frames concatenated in that order (lengths in UTF-16 code units, as JavaScript counts them);
 * - `["h", origin, to]\n<body>`: a session handoff message for node `to` (resume on any node).
 *
 * `seq` numbers the messages a node publishes (1, 2, …) when its app has resume on: a node taking
 * over a resumed session tells by it which of the old node's pushes the session already had
 * (lib/resume/handoff.ts). Nodes of versions before it drop numbered messages as malformed.
 */

/** A push to rooms, to one client, or an ordered push (see the file's TSDoc). */
export type Header =
  | ['r', string, string | string[], string | null, number?]
  | ['c', string, string, number?]
  | ['o', string, string | string[], string | null, number]

/** One push of a batch, with the length of its frame. */
export type BatchEntry = ['r', string | string[], string | null, number] | ['c', string, number]

/** Where a message's pushes go: one call per push, in the order they were published. */
export interface MessageSink {
  /** A push to rooms from `origin`, in its message number `seq` (0: the message had none). */
  rooms(origin: string, rooms: string | readonly string[], frame: string, except: string | undefined, seq: number): void
  /** A push to one client from `origin`, in its message number `seq` (0: the message had none). */
  client(origin: string, clientId: string, frame: string, seq: number): void
  /** An ordered push (a store published it with its write) from `origin`, its id on that node. */
  ordered(origin: string, id: number, rooms: string | readonly string[], frame: string, except: string | undefined): void
  /** A session handoff message from `origin` for node `to`, this node's own included; ignored when absent. */
  handoff?(origin: string, to: string, body: string): void
}

/** The kind of a push waiting in an outbox: to rooms (`r`) or to one client (`c`). */
export type PushKind = 'r' | 'c'

/** The message of one push to rooms or to one client (`target`: rooms or the client id), numbered `seq` when given. */
export function encodeOne(origin: string, kind: PushKind, target: string | readonly string[], except: string | undefined, frame: string, seq?: number): string {
  const header = kind === 'r'
    ? JSON.stringify(seq === undefined ? ['r', origin, target, except ?? null] : ['r', origin, target, except ?? null, seq])
    : JSON.stringify(seq === undefined ? ['c', origin, target] : ['c', origin, target, seq])
  return header + '\n' + frame
}

/** The message of a session handoff from node `origin` to node `to` (its body: lib/resume/handoff.ts). */
export function encodeHandoff(origin: string, to: string, body: string): string {
  return JSON.stringify(['h', origin, to]) + '\n' + body
}

/** The message of an ordered push. */
export function encodeOrdered(origin: string, rooms: string | readonly string[], except: string | undefined, id: number, frame: string): string {
  return JSON.stringify(['o', origin, rooms, except ?? null, id]) + '\n' + frame
}

/**
 * The message of several pushes, from a flat list of `kind, target, except, frame` quadruples
 * (`count` of them): one header for all, then the frames.
 */
export function encodeBatch(origin: string, flat: readonly unknown[], count: number, seq?: number): string {
  const entries: BatchEntry[] = new Array<BatchEntry>(count)
  let frames = ''
  for (let i = 0; i < count; i++) {
    const kind = flat[i * 4] as PushKind
    const target = flat[i * 4 + 1] as string | string[]
    const frame = flat[i * 4 + 3] as string
    entries[i] = kind === 'r'
      ? ['r', target, (flat[i * 4 + 2] as string | undefined) ?? null, frame.length]
      : ['c', target as string, frame.length]
    frames += frame
  }
  return JSON.stringify(seq === undefined ? ['b', origin, entries] : ['b', origin, entries, seq]) + '\n' + frames
}

/**
 * Reads a message and hands each of its pushes to `sink`, in order, except those `self` sent (it
 * delivered them already) other than ordered pushes and handoff messages. Returns how many pushes
 * it handed on, or -1 when it is not a Talk message (then nothing was handed on).
 */
export function decodeMessage(message: string, self: string, sink: MessageSink): number {
  const cut = message.indexOf('\n')
  if (cut < 0) return -1
  const value = parseJson(message.slice(0, cut))
  if (!Array.isArray(value) || typeof value[1] !== 'string') return -1
  const origin = value[1]
  if (value[0] === 'b') {
    if (value.length === 4 && !isSeq(value[3])) return -1
    return decodeBatch(origin, value[2], message, cut + 1, origin === self ? undefined : sink, value.length === 4 ? (value[3] as number) : 0)
  }
  if (value[0] === 'h') {
    if (value.length !== 3 || typeof value[2] !== 'string') return -1
    sink.handoff?.(origin, value[2], message.slice(cut + 1))
    return 0
  }
  const header = checkHeader(value)
  if (header === undefined) return -1
  if (origin === self && header[0] !== 'o') return 0
  const frame = message.slice(cut + 1)
  if (header[0] === 'r') sink.rooms(origin, header[2], frame, header[3] ?? undefined, header[4] ?? 0)
  else if (header[0] === 'c') sink.client(origin, header[2], frame, header[3] ?? 0)
  else sink.ordered(origin, header[4], header[2], frame, header[3] ?? undefined)
  return 1
}

function decodeBatch(origin: string, entries: unknown, message: string, start: number, sink: MessageSink | undefined, seq: number): number {
  if (!Array.isArray(entries) || !entries.every(isBatchEntry)) return -1
  // The lengths must add up to the message exactly: anything else is not ours (or is cut), and nothing is delivered.
  let total = start
  for (const entry of entries) total += entry[0] === 'r' ? entry[3] : entry[2]
  if (total !== message.length) return -1
  if (sink === undefined) return 0
  let at = start
  for (const entry of entries) {
    if (entry[0] === 'r') {
      sink.rooms(origin, entry[1], message.slice(at, at + entry[3]), entry[2] ?? undefined, seq)
      at += entry[3]
    } else {
      sink.client(origin, entry[1], message.slice(at, at + entry[2]), seq)
      at += entry[2]
    }
  }
  return entries.length
}

function checkHeader(value: unknown[]): Header | undefined {
  if (value[0] === 'c') return (value.length === 3 || (value.length === 4 && isSeq(value[3]))) && typeof value[2] === 'string' ? (value as Header) : undefined
  if (value[0] === 'o' && (value.length !== 5 || !Number.isSafeInteger(value[4]))) return undefined
  if (value[0] !== 'o' && (value[0] !== 'r' || (value.length !== 4 && (value.length !== 5 || !isSeq(value[4]))))) return undefined
  return isRooms(value[2]) && isExcept(value[3]) ? (value as Header) : undefined
}

function isSeq(seq: unknown): boolean {
  return Number.isSafeInteger(seq) && (seq as number) > 0
}

function isBatchEntry(entry: unknown): entry is BatchEntry {
  if (!Array.isArray(entry)) return false
  if (entry[0] === 'c') return entry.length === 3 && typeof entry[1] === 'string' && isLength(entry[2])
  return entry[0] === 'r' && entry.length === 4 && isRooms(entry[1]) && isExcept(entry[2]) && isLength(entry[3])
}

function isRooms(rooms: unknown): rooms is string | string[] {
  return typeof rooms === 'string' || (Array.isArray(rooms) && rooms.every((r) => typeof r === 'string'))
}

function isExcept(except: unknown): except is string | null {
  return except === null || typeof except === 'string'
}

function isLength(length: unknown): length is number {
  return Number.isSafeInteger(length) && (length as number) >= 0
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
