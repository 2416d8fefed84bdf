import { TalkError } from '../../lib/errors'
import { PendingRequests } from '../../lib/client/pending'

interface Outcome {
  value?: Record<string, unknown>
  error?: unknown
}

/** Books a request on `pending` and records how it settles. */
function book(pending: PendingRequests, name: string, payload?: object, timeout = 0): Outcome {
  const outcome: Outcome = {}
  pending.add(name, payload, timeout, undefined, (value) => (outcome.value = value), (error) => (outcome.error = error))
  return outcome
}

describe('the requests a client waits for', () => {
  afterEach(() => jest.useRealTimers())

  it('numbers requests in order, frames them with route and ref winning over the payload, and queues them until sent', () => {
    const pending = new PendingRequests()
    book(pending, 'document:get', { id: 'd1', ref: 'mine', command: 'x' })
    book(pending, 'document/list')
    expect(pending.queued).toBe(2)
    const written: string[] = []
    pending.flush((frame) => written.push(frame))
    expect(written.map((frame) => JSON.parse(frame))).toEqual([
      { route: 'document/get', ref: 1, id: 'd1' },
      { route: 'document/list', ref: 2 },
    ])
    expect(pending.queued).toBe(0)
  })

  it('settles a request by the ref of its reply, and counts every ref below the oldest one waiting as done', () => {
    const pending = new PendingRequests()
    const first = book(pending, 'a')
    const second = book(pending, 'b')
    expect(pending.settledUpTo()).toBe(0)
    pending.replied({ status: 'success', ref: 1, ok: true })
    pending.replied({ status: 'success', ref: 'ping-1' })
    expect(first.value).toEqual({ ok: true })
    expect(pending.settledUpTo()).toBe(1)
    pending.replied({ status: 'error', ref: 2, error: { code: 'NOT_FOUND', message: 'No b', details: { id: 'b' } } })
    expect(second.error).toEqual(new TalkError('NOT_FOUND', 'No b', { id: 'b' }))
    expect((second.error as TalkError).details).toEqual({ id: 'b' })
    expect(pending.settledUpTo()).toBe(2)
  })

  it('rejects a request with TIMEOUT once its time is up, and forgets it', () => {
    jest.useFakeTimers()
    const pending = new PendingRequests()
    const late = book(pending, 'slow', undefined, 50)
    jest.advanceTimersByTime(50)
    expect(late.error).toEqual(new TalkError('TIMEOUT', 'No reply to slow within 50 ms'))
    expect(pending.queued).toBe(0)
    pending.replied({ status: 'success', ref: 1 })
    expect(late.value).toBeUndefined()
  })

  it('refuses a payload that cannot be JSON with a TypeError and books nothing', () => {
    const pending = new PendingRequests()
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(() => book(pending, 'x', cyclic)).toThrow(TypeError)
    expect(pending.queued).toBe(0)
    expect(pending.settledUpTo()).toBe(0)
  })
})
