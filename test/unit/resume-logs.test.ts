import { JSON_CODEC } from '../../lib/protocol'
import { PushLog } from '../../lib/resume/push-log'
import { ReplyCache } from '../../lib/resume/reply-cache'

/** A reply target that keeps what it is given. */
function target() {
  const written: string[] = []
  return { written, write: (frame: string) => void written.push(frame) }
}

describe('push log', () => {
  it('replays the pushes after the ones a client has seen, and forgets the ones it acknowledges', () => {
    const log = new PushLog(10, 1024)
    for (const n of [1, 2, 3]) log.append(`{"n":${n}}`)
    expect(log.missed(1)).toEqual(['{"n":2}', '{"n":3}'])
    expect(log.canReplay(0)).toBe(true)
    log.acknowledge(2)
    expect(log.logged).toBe(1)
    expect(log.bytes).toBe(7)
    expect(log.canReplay(1)).toBe(false)
    expect(log.missed(2)).toEqual(['{"n":3}'])
  })

  it('keeps at most maxPushes and maxBytes, dropping the oldest', () => {
    const log = new PushLog(3, 20)
    for (let n = 1; n <= 5; n++) log.append(`{"n":${n}}`)
    expect(log.missed(0)).toEqual(['{"n":4}', '{"n":5}'])
    expect(log.canReplay(2)).toBe(false)
    expect(log.canReplay(3)).toBe(true)
  })
})

describe('reply cache', () => {
  it('answers a retry on a later connection with the first reply, now or once it is given', () => {
    const cache = new ReplyCache(8, 1024, JSON_CODEC)
    const first = target()
    expect(cache.retry(1, 0, first)).toBe(false)
    expect(cache.retry(2, 0, first)).toBe(false)
    cache.replied(1, '{"status":"success","ref":1}', first)
    const second = target()
    expect(cache.retry(1, 1, second)).toBe(true)
    expect(cache.retry(2, 1, second)).toBe(true)
    cache.replied(2, '{"status":"success","ref":2}', second)
    expect(second.written).toEqual(['{"status":"success","ref":1}', '{"status":"success","ref":2}'])
    expect(first.written).toEqual([])
  })

  it('refuses the retry of a request whose reply was evicted, and lets a refused request run again', () => {
    const cache = new ReplyCache(1, 1024, JSON_CODEC)
    const first = target()
    for (const ref of [1, 2]) {
      cache.retry(ref, 0, first)
      cache.replied(ref, `{"status":"success","ref":${ref}}`, first)
    }
    expect(cache.retry(3, 0, first)).toBe(false)
    cache.refused(3)
    const second = target()
    expect(cache.retry(1, 1, second)).toBe(true)
    expect(JSON.parse(second.written[0] ?? '')).toMatchObject({ status: 'error', ref: 1, error: { code: 'CONFLICT' } })
    expect(cache.retry(3, 1, second)).toBe(false)
  })

  it('forgets the replies a client acknowledges', () => {
    const cache = new ReplyCache(8, 1024, JSON_CODEC)
    const first = target()
    cache.retry(1, 0, first)
    cache.replied(1, '{"status":"success","ref":1}', first)
    expect(cache.bytes).toBe(28)
    cache.acknowledge(1)
    expect(cache.bytes).toBe(0)
    expect(cache.retry(1, 1, target())).toBe(false)
  })
})
