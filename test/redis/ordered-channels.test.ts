import { OrderedPushes } from '../../lib/adapters/ordered-pushes'

describe('ordered pushes with a channel per room', () => {
  let log: string[]
  let generations: Map<string, number>
  let pushes: OrderedPushes
  const publication = (channel: string) => (id: number): { channel: string; message: string } => ({ channel, message: `#${id}` })

  beforeEach(() => {
    log = []
    generations = new Map([['room-a', 1], ['room-b', 2]])
    pushes = new OrderedPushes((rooms, frame) => log.push(`${String(rooms)} ${frame}`), (channel) => generations.get(channel) ?? -1)
    pushes.subscribed()
  })

  it('only runs the writer\'s reply for a room this node does not listen to, and delivers a copy that comes anyway', async () => {
    const mine = pushes.unheard(() => log.push('reply'), publication('room-c'))
    expect(mine.publication).toEqual({ channel: 'room-c', message: '#0' })
    await mine.published()
    pushes.arrived(0, 'room-c', 'v5', undefined)
    expect(log).toEqual(['reply', 'room-c v5'])
    expect(pushes.lost).toBe(0)
  })

  it('delivers directly the waiting pushes of a channel that was dropped, and only those', async () => {
    jest.useFakeTimers()
    try {
      const a = pushes.prepare('room-a', 'a1', undefined, () => log.push('reply a1'), publication('room-a'))
      const b = pushes.prepare('room-b', 'b1', undefined, () => log.push('reply b1'), publication('room-b'))
      const doneA = a.published()
      const doneB = b.published()
      generations.delete('room-a')
      pushes.unsubscribed('room-a')
      await doneA
      expect(log).toEqual(['room-a a1', 'reply a1'])
      pushes.arrived(2, 'room-b', 'b1', undefined)
      await doneB
      expect(log).toEqual(['room-a a1', 'reply a1', 'room-b b1', 'reply b1'])
      expect(pushes.lost).toBe(1)
    } finally {
      jest.useRealTimers()
    }
  })

  it('delivers directly a push whose channel was not subscribed yet, or subscribed again since', async () => {
    generations.set('room-a', -1)
    const early = pushes.prepare('room-a', 'a1', undefined, undefined, publication('room-a'))
    generations.set('room-a', 3)
    const across = pushes.prepare('room-a', 'a2', undefined, undefined, publication('room-a'))
    generations.set('room-a', 4)
    await early.published()
    await across.published()
    // Late copies are not delivered twice.
    pushes.arrived(1, 'room-a', 'a1', undefined)
    pushes.arrived(2, 'room-a', 'a2', undefined)
    expect(log).toEqual(['room-a a1', 'room-a a2'])
    expect(pushes.lost).toBe(2)
  })
})
