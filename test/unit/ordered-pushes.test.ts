import { ORDERED_WAIT_MS, OrderedPushes } from '../../lib/adapters/ordered-pushes'

describe('ordered pushes on one node', () => {
  let log: string[]
  let pushes: OrderedPushes
  const publication = (id: number): { channel: string; message: string } => ({ channel: 'bus', message: `#${id}` })
  const prepare = (frame: string, reply?: string): ReturnType<OrderedPushes['prepare']> =>
    pushes.prepare('room', frame, 'writer', reply === undefined ? undefined : () => log.push(reply), publication)

  beforeEach(() => {
    log = []
    pushes = new OrderedPushes((rooms, frame, except) => log.push(`${String(rooms)} ${frame} except ${String(except)}`))
    pushes.subscribed()
  })

  it('runs the writer\'s reply right when its push comes off the channel, before the pushes behind it', async () => {
    const mine = prepare('v5', 'reply v5')
    expect(mine.publication).toEqual({ channel: 'bus', message: '#1' })
    // The copy comes back before the store's write resolved (another connection): the reply goes at once.
    pushes.arrived(1, 'room', 'v5', 'writer')
    log.push('push v6 from another node')
    await mine.published()
    expect(log).toEqual(['room v5 except writer', 'reply v5', 'push v6 from another node'])
    expect(pushes.lost).toBe(0)
  })

  it('waits for the copy when the write resolves first', async () => {
    const mine = prepare('v5', 'reply v5')
    const done = mine.published()
    expect(log).toEqual([])
    pushes.arrived(1, 'room', 'v5', 'writer')
    await done
    expect(log).toEqual(['room v5 except writer', 'reply v5'])
  })

  it('delivers directly, once, when the subscription drops while the writer waits', async () => {
    const mine = prepare('v5', 'reply v5')
    const done = mine.published()
    pushes.unsubscribed()
    await done
    // The copy, should it come late after all, is not delivered twice.
    pushes.arrived(1, 'room', 'v5', 'writer')
    expect(log).toEqual(['room v5 except writer', 'reply v5'])
    expect(pushes.lost).toBe(1)
  })

  it('delivers directly what was published while not subscribed, or across a drop', async () => {
    pushes.unsubscribed()
    const before = prepare('v5', 'reply v5')
    await before.published()
    pushes.subscribed()
    const across = prepare('v6', 'reply v6')
    pushes.unsubscribed()
    pushes.subscribed()
    await across.published()
    expect(log).toEqual(['room v5 except writer', 'reply v5', 'room v6 except writer', 'reply v6'])
    expect(pushes.lost).toBe(2)
  })

  it('delivers directly when the copy takes too long', async () => {
    jest.useFakeTimers()
    try {
      const done = prepare('v5', 'reply v5').published()
      jest.advanceTimersByTime(ORDERED_WAIT_MS)
      await done
      pushes.arrived(1, 'room', 'v5', 'writer')
      expect(log).toEqual(['room v5 except writer', 'reply v5'])
    } finally {
      jest.useRealTimers()
    }
  })

  it('rejects the writer\'s wait with what its reply threw, and carries on', async () => {
    const bad = pushes.prepare('room', 'v5', 'writer', () => {
      throw new Error('cannot encode')
    }, publication)
    pushes.arrived(1, 'room', 'v5', 'writer')
    await expect(bad.published()).rejects.toThrow('cannot encode')
    const good = prepare('v6', 'reply v6')
    pushes.arrived(2, 'room', 'v6', 'writer')
    await good.published()
    expect(log).toEqual(['room v5 except writer', 'room v6 except writer', 'reply v6'])
  })

  it('leaves alone an attempt that lost its race: its push is never published, and nothing waits for it', async () => {
    prepare('v5 (lost the race)', 'never')
    const second = prepare('v5', 'reply v5')
    pushes.arrived(2, 'room', 'v5', 'writer')
    await second.published()
    expect(log).toEqual(['room v5 except writer', 'reply v5'])
  })
})
