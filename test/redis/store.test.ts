import { memoryStore, TalkError, type Publication, type Store } from '../../index'
import { redisClass } from '../../lib/adapters/ioredis'
import { redisStore } from '../../lib/store/redis'
import { describeRedis, RedisServer, redisSource } from '../helpers/redis-server'

interface Counter {
  n: number
  tags?: string[]
}

/** The Store contract, run against each implementation. */
function storeContract(name: string, make: () => Promise<{ store: Store<Counter>; peer: Store<Counter>; close(): Promise<void> }>): void {
  describe(`${name} store`, () => {
    let store: Store<Counter>
    let peer: Store<Counter>
    let close: () => Promise<void>
    beforeEach(async () => {
      ;({ store, peer, close } = await make())
    })
    afterEach(() => close())

    it('keeps a copy of a value, and a change to a value read never reaches the store', async () => {
      expect(await store.get('a')).toBeUndefined()
      const value = { n: 1, tags: ['x'] }
      await store.set('a', value)
      value.tags.push('changed after set')
      const read = await store.get('a')
      expect(read).toEqual({ n: 1, tags: ['x'] })
      // Values read are read-only: the memory store's are frozen (the push throws), Redis's are copies.
      try {
        read?.tags?.push('changed after get')
      } catch {}
      expect(await peer.get('a')).toEqual({ n: 1, tags: ['x'] })
    })

    it('keeps what JSON keeps: no undefined fields, Dates as strings, non-finite numbers as null', async () => {
      const odd = { n: 1, gone: undefined, when: new Date(0), inf: Infinity, list: [undefined, NaN, () => 1], __proto__x: 1 }
      await store.set('j', odd as unknown as Counter)
      expect(await peer.get('j')).toEqual(JSON.parse(JSON.stringify(odd)))
      const own = JSON.parse('{"n":2,"__proto__":{"polluted":true}}') as Counter
      await store.set('p', own)
      const read = (await peer.get('p')) as unknown as Record<string, unknown>
      expect([Object.getPrototypeOf(read) === Object.prototype, Object.keys(read), ({} as Record<string, unknown>).polluted]).toEqual([true, ['n', '__proto__'], undefined])
    })

    it('updates atomically and resolves with the value stored', async () => {
      expect(await store.update('c', (cur) => ({ n: (cur?.n ?? 0) + 1 }))).toEqual({ n: 1 })
      expect(await store.update('c', (cur) => ({ n: (cur?.n ?? 0) + 1 }))).toEqual({ n: 2 })
      // Returning undefined leaves the value as it is.
      expect(await store.update('c', () => undefined)).toEqual({ n: 2 })
      expect(await store.update('missing', () => undefined)).toBeUndefined()
      expect(await store.get('missing')).toBeUndefined()
    })

    it('loses no update when two handles change one key at once', async () => {
      let runs = 0
      const bump = (cur: Counter | undefined): Counter => {
        runs++
        return { n: (cur?.n ?? 0) + 1 }
      }
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? store : peer).update('hot', bump)))
      expect(await store.get('hot')).toEqual({ n: 40 })
      expect(runs).toBeGreaterThanOrEqual(40)
    })

    it('deletes, and a key made again after a delete starts over', async () => {
      await store.set('d', { n: 5 })
      expect(await store.delete('d')).toBe(true)
      expect(await store.delete('d')).toBe(false)
      expect(await peer.get('d')).toBeUndefined()
      expect(await store.update('d', (cur) => ({ n: (cur?.n ?? 0) + 1 }))).toEqual({ n: 1 })
    })

    it('lists keys by prefix, glob characters taken literally', async () => {
      await Promise.all(['doc:1', 'doc:2', 'doc*', 'note:1', 'd[o]c'].map((k) => store.set(k, { n: 0 })))
      expect((await store.keys('doc:')).sort()).toEqual(['doc:1', 'doc:2'])
      expect((await store.keys('doc*')).sort()).toEqual(['doc*'])
      expect((await store.keys('d[o]')).sort()).toEqual(['d[o]c'])
      expect((await peer.keys()).sort()).toEqual(['d[o]c', 'doc*', 'doc:1', 'doc:2', 'note:1'])
    })
  })
}

storeContract('memory', async () => {
  const store = memoryStore<Counter>()
  return { store, peer: store, close: async () => {} }
})

describe('memory store reads', () => {
  it('hand out the stored value itself, deep-frozen: no copy per read, and writes to it throw', async () => {
    const store = memoryStore<{ id: string; nodes: { id: number; data: { text: string } }[] }>()
    const big = { id: 'big', nodes: Array.from({ length: 5000 }, (_, id) => ({ id, data: { text: 'x'.repeat(1000) } })) }
    await store.set('doc', big)
    const first = await store.get('doc')
    const second = await store.get('doc')
    expect(first).toBe(second)
    expect(first).not.toBe(big)
    expect([Object.isFrozen(first), Object.isFrozen(first?.nodes), Object.isFrozen(first?.nodes[4999]?.data)]).toEqual([true, true, true])
    expect(() => first?.nodes.push({ id: -1, data: { text: '' } })).toThrow(TypeError)
    expect(() => {
      if (first?.nodes[0] !== undefined) first.nodes[0].data.text = 'changed'
    }).toThrow(TypeError)
    expect((await store.get('doc'))?.nodes.length).toBe(5000)
    expect((await store.get('doc'))?.nodes[0]?.data.text).toBe('x'.repeat(1000))
  })

  it('update() hands change() the frozen value and shares the parts of it the new value keeps', async () => {
    const store = memoryStore<{ version: number; nodes: { id: number }[] }>()
    await store.set('doc', { version: 1, nodes: [{ id: 1 }] })
    const before = await store.get('doc')
    const after = await store.update('doc', (current) => {
      expect(current).toBe(before)
      return current === undefined ? undefined : { ...current, version: 2, nodes: [...current.nodes, { id: 2 }] }
    })
    expect(after).toEqual({ version: 2, nodes: [{ id: 1 }, { id: 2 }] })
    expect(after?.nodes[0]).toBe(before?.nodes[0])
    expect(await store.get('doc')).toBe(after)
    expect(Object.isFrozen(after?.nodes[1])).toBe(true)
    expect(await store.update('doc', () => undefined)).toBe(after)
  })
})

describeRedis('Redis store', (source) => {
  let redis: RedisServer | undefined
  let url: string
  let run = 0
  beforeAll(async () => {
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
    url = redis?.url ?? (source.kind === 'url' ? source.url : '')
  })
  afterAll(() => redis?.close())

  // Two stores on two connections: as two nodes would be.
  storeContract('redis', async () => {
    const prefix = `talk-test-${process.pid}-${Date.now()}-${run++}:`
    const store = redisStore<Counter>({ url, prefix })
    const peer = redisStore<Counter>({ url, prefix })
    return { store, peer, close: async () => void (await Promise.all([store.close(), peer.close()])) }
  })

  it('publishes with each write, once, in the order of the writes, and nothing when nothing is written', async () => {
    const prefix = `talk-test-pub-${process.pid}-${Date.now()}:`
    const channel = `${prefix}channel`
    const subscriber = new (redisClass())(url)
    const heard: string[] = []
    subscriber.on('message', (_channel: string, message: string) => heard.push(message))
    await subscriber.subscribe(channel)
    const [store, peer] = [redisStore<Counter>({ url, prefix }), redisStore<Counter>({ url, prefix })]
    try {
      const publish = (next: Counter): Publication => ({ channel, message: String(next.n) })
      const bump = (cur: Counter | undefined): Counter => ({ n: (cur?.n ?? 0) + 1 })
      // Two handles race: the losing attempts run again, and only the write that lands publishes.
      await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? store : peer).update('hot', bump, { publish })))
      expect(await store.update('hot', () => undefined, { publish })).toEqual({ n: 30 })
      await store.update('hot', bump, { publish: () => undefined })
      await store.update('hot', bump, { publish })
      // The subscriber reads in publish order; PING's reply comes after every message published before it.
      await subscriber.ping()
      expect(heard).toEqual([...Array.from({ length: 30 }, (_, i) => String(i + 1)), '32'])
      // The store's own keys (write tokens, the version counter) are not listed.
      expect(await peer.keys()).toEqual(['hot'])
    } finally {
      subscriber.disconnect()
      await Promise.all([store.close(), peer.close()])
    }
  })

  it('refuses bad options at start-up', () => {
    expect(() => redisStore({ url: 5 as unknown as string })).toThrow(TypeError)
    expect(() => redisStore({ maxAttempts: 0 })).toThrow(TypeError)
    expect(() => redisStore({ prefix: 5 as unknown as string })).toThrow(TypeError)
  })

  it('answers UNAVAILABLE while Redis is away, and works again once it is back', async () => {
    if (redis === undefined || redisSource().kind !== 'binary') {
      console.warn('skipping the Redis outage test: it needs a redis-server of its own, not REDIS_URL')
      return
    }
    const store = redisStore<Counter>({ url, prefix: 'outage:' })
    try {
      await store.set('k', { n: 1 })
      await redis.stop()
      await expect(store.get('k')).rejects.toEqual(new TalkError('UNAVAILABLE', 'Shared state is unavailable, try again'))
      await expect(store.update('k', () => ({ n: 2 }))).rejects.toBeInstanceOf(TalkError)
      await redis.restart()
      // Redis persisted nothing (as configured for tests), so the store starts empty, and works.
      expect(await store.update('k', (cur) => ({ n: (cur?.n ?? 0) + 1 }))).toEqual({ n: 1 })
    } finally {
      await store.close()
    }
  })
})
