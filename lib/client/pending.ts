import { TalkError } from '../errors'
import { slashName } from '../protocol'

/** One request not yet answered, by its numeric ref. */
export interface PendingRequest {
  readonly ref: number
  /** The route name as the caller spelled it, for error messages. */
  readonly name: string
  /** The request frame, kept to resend it with the same ref after a resume. */
  readonly frame: string
  /** Written to a socket (its reply may have been lost with it), or still waiting in the offline queue. */
  sent: boolean
  resolve(payload: Record<string, unknown>): void
  reject(err: unknown): void
  timer: ReturnType<typeof setTimeout> | undefined
  signal: AbortSignal | undefined
  onAbort: (() => void) | undefined
}

/** Checks a request's name and payload before anything else; the TypeError to reject with, or undefined. */
export function invalidRequest(name: unknown, payload: unknown): TypeError | undefined {
  if (typeof name !== 'string' || name.length === 0) return new TypeError('A request needs a route name')
  if (payload !== undefined && (payload === null || typeof payload !== 'object' || Array.isArray(payload))) {
    return new TypeError('A request payload must be an object')
  }
  return undefined
}

/**
 * The requests a client waits for, in ref order: each has a timer (TIMEOUT) and may follow an
 * AbortSignal (ABORTED); those not yet written to a socket form the offline queue. A reply settles
 * its request by ref; the lifecycle decides when the others are resent, written or rejected.
 */
export class PendingRequests {
  private readonly byRef = new Map<number, PendingRequest>()
  private nextRef = 1
  private waiting = 0

  /** Requests in the offline queue: not yet written to any socket. */
  get queued(): number {
    return this.waiting
  }

  /**
   * Books a request and returns it: encodes its frame with the next ref (the envelope's `route` and
   * `ref` win over payload keys of the same name), starts its timeout (`timeout` ms, 0 for none) and
   * follows `signal`. Throws a TypeError, booking nothing, when the payload cannot be sent as JSON.
   */
  add(
    name: string,
    payload: object | undefined,
    timeout: number,
    signal: AbortSignal | undefined,
    resolve: (payload: Record<string, unknown>) => void,
    reject: (err: unknown) => void,
  ): PendingRequest {
    const ref = this.nextRef
    const fields: Record<string, unknown> = { route: slashName(name), ref, ...payload }
    fields.route = slashName(name)
    fields.ref = ref
    delete fields.command
    let frame: string
    try {
      frame = JSON.stringify(fields)
    } catch (err) {
      throw new TypeError(`The payload of ${name} cannot be sent as JSON: ${String(err)}`)
    }
    this.nextRef++
    const p: PendingRequest = { ref, name, frame, sent: false, resolve, reject, timer: undefined, signal, onAbort: undefined }
    this.byRef.set(ref, p)
    this.waiting++
    if (timeout > 0) {
      p.timer = setTimeout(() => this.fail(p, new TalkError('TIMEOUT', `No reply to ${name} within ${timeout} ms`)), timeout)
    }
    if (signal !== undefined) {
      p.onAbort = () => this.fail(p, new TalkError('ABORTED', `The request ${name} was aborted`))
      signal.addEventListener('abort', p.onAbort, { once: true })
    }
    return p
  }

  /** Marks a request as written to a socket and returns its frame to write: it leaves the offline queue. */
  send(p: PendingRequest): string {
    if (!p.sent) {
      p.sent = true
      this.waiting--
    }
    return p.frame
  }

  /** Writes every request of the offline queue with `write`, in the order they were asked for. */
  flush(write: (frame: string) => void): void {
    if (this.waiting === 0) return
    for (const p of [...this.byRef.values()]) {
      if (!p.sent) write(this.send(p))
    }
  }

  /** Calls `each` for every request already written to a socket (their replies may be lost with it), in ref order. */
  forEachSent(each: (p: PendingRequest) => void): void {
    for (const p of [...this.byRef.values()]) {
      if (p.sent) each(p)
    }
  }

  /** Rejects every request not yet answered with `err` (the client closed). */
  failAll(err: unknown): void {
    for (const p of [...this.byRef.values()]) this.fail(p, err)
  }

  /** Takes a request out of the books and rejects it with `err`; nothing when it is settled already. */
  fail(p: PendingRequest, err: unknown): void {
    if (this.byRef.get(p.ref) !== p) return
    this.forget(p)
    p.reject(err)
  }

  /**
   * Settles the request a reply frame (`status` present) answers: resolves with the payload without
   * `status` and `ref`, or rejects with a TalkError of the server's code, message and details. A
   * string ref (a heartbeat's) or an unknown one (timed out, aborted) is ignored.
   */
  replied(frame: Record<string, unknown>): void {
    const ref = frame.ref
    if (typeof ref !== 'number') return
    const p = this.byRef.get(ref)
    if (p === undefined) return
    this.forget(p)
    if (frame.status === 'success') {
      const { status: _status, ref: _ref, ...payload } = frame
      p.resolve(payload)
      return
    }
    const error = (frame.error ?? {}) as { code?: unknown; message?: unknown; details?: unknown }
    p.reject(new TalkError(
      typeof error.code === 'string' ? error.code : 'INTERNAL',
      typeof error.message === 'string' ? error.message : 'The server answered with an error',
      error.details,
    ))
  }

  /** Every request with a ref up to this one is settled (the `done` of a ping: the server may forget their replies). */
  settledUpTo(): number {
    for (const ref of this.byRef.keys()) return ref - 1
    return this.nextRef - 1
  }

  private forget(p: PendingRequest): void {
    this.byRef.delete(p.ref)
    if (!p.sent) this.waiting--
    clearTimeout(p.timer)
    if (p.onAbort !== undefined) p.signal?.removeEventListener('abort', p.onAbort)
  }
}
