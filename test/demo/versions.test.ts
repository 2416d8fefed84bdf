import { memoryStore, type Store } from 'talk'
import type { Frame, TestClient } from 'talk/testing'
import type { Doc } from '../../examples/documents/model'
import { Demo, record } from './demo-server'

/**
 * A memory store 0–2 ms away each way, the way a store over the network is: each call reaches the
 * data a moment after it was made, and its answer comes back a varying moment after that.
 */
function slowStore(): Store<Doc> {
  const inner = memoryStore<Doc>()
  const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3)))
  const later = async <T>(work: () => Promise<T>): Promise<T> => {
    await tick()
    const result = await work()
    await tick()
    return result
  }
  return {
    get: (key) => later(() => inner.get(key)),
    set: (key, value) => later(() => inner.set(key, value)),
    update: (key, change) => later(() => inner.update(key, change)),
    delete: (key) => later(() => inner.delete(key)),
    keys: (prefix) => later(() => inner.keys(prefix)),
    close: () => inner.close(),
  }
}

/** The document versions a client saw, in arrival order: in pushes about `doc` and in its own change replies. */
function versionsSeen(frames: readonly Frame[], doc: string, from: number): number[] {
  const out: number[] = []
  let started = false
  for (const frame of frames) {
    // Start after the reply to this client's own document:get (the one that carries the document).
    if (!started) {
      const got = frame.document as { id?: unknown; version?: unknown } | undefined
      if (frame.status === 'success' && got?.id === doc && got.version === from) started = true
      continue
    }
    if (frame.status === undefined && frame.document === doc && typeof frame.version === 'number') out.push(frame.version)
    if (frame.status === 'success' && typeof frame.version === 'number') out.push(frame.version)
  }
  return out
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i)
}

describe.each([
  ['a memory store', () => memoryStore<Doc>()],
  ['a store a few milliseconds away', slowStore],
])('document versions with %s', (_name, makeStore) => {
  let demo: Demo
  beforeEach(async () => {
    demo = await Demo.start({ store: makeStore() })
  })
  afterEach(() => demo.close())

  it('gives every change the next version: create 1, then one more per change', async () => {
    const a = await demo.client('a')
    await a.request('document:create', { id: 'v' })
    expect(await a.request('node:create', { type: 't', data: { name: 'one' } })).toMatchObject({ version: 2 })
    expect(await a.request('node:update', { id: 2, data: { done: true } })).toMatchObject({ version: 3 })
    expect(await a.request('document:update', { id: 'v', data: { title: 'V' } })).toMatchObject({ version: 4 })
    expect(await a.request('node:delete', { id: 2 })).toEqual({ status: 'success', ref: 5, id: 2, version: 5 })
    expect(await a.request('document:get', { id: 'v' })).toEqual({
      status: 'success', ref: 6, document: { id: 'v', version: 5, data: { title: 'V' }, nodes: [] }, 'active-users': ['a'],
    })
  })

  it('shows every client v+1, v+2, … after its get at v, with concurrent writers and joiners', async () => {
    const WRITERS = 4
    const WRITES = 30
    const JOINERS = 16
    const owner = await demo.client('owner')
    await owner.request('document:create', { id: 'race' })
    await owner.request('document:create', { id: 'elsewhere' })
    const writers = await Promise.all(range(1, WRITERS).map((i) => demo.client(`writer${i}`)))
    const writerFrames = writers.map(record)
    const writerStart = await Promise.all(writers.map((w) => w.request('document:get', { id: 'race' })))

    // Joiners connect now and open the document while the writers write; half of them come from another document.
    const joiners: TestClient[] = await Promise.all(range(1, JOINERS).map((i) => demo.client(`joiner${i}`)))
    const joinerFrames = joiners.map(record)
    await Promise.all(joiners.filter((_, i) => i % 2 === 0).map((j) => j.request('document:get', { id: 'elsewhere' })))

    // Every writer pipelines its writes without waiting; joiners' gets are sent in between.
    const writes: Promise<Frame>[] = []
    const gets: Promise<Frame>[] = []
    for (let n = 0; n < WRITES; n++) {
      for (const [i, w] of writers.entries()) {
        if (n % 3 === 2 && n > 2) writes.push(w.request('node:update', { id: 2 + i, data: { n } }))
        else writes.push(w.request('node:create', { type: 't', data: { name: `w${i}-${n}` } }))
      }
      for (const [j, joiner] of joiners.entries()) {
        if (Math.floor((j * WRITES) / JOINERS) === n) gets.push(joiner.request('document:get', { id: 'race' }))
      }
      // Let the frames go out so gets really interleave with writes.
      await new Promise((resolve) => setImmediate(resolve))
    }
    const replies = await Promise.all(writes)
    const joinerStart = await Promise.all(gets)
    expect(joinerStart).toHaveLength(JOINERS)
    for (const reply of replies) expect(reply.status).toBe('success')
    const last = 1 + WRITERS * WRITES

    // One more request each: its reply comes after every push already written to that socket.
    await Promise.all([...writers, ...joiners].map((c) => c.request('document:list', {})))

    const final = (await owner.request('document:get', { id: 'race' })).document as { version: number; nodes: unknown[] }
    expect(final.version).toBe(last)

    for (const [i, frames] of joinerFrames.entries()) {
      const v = ((joinerStart[i] as Frame).document as { version: number }).version
      expect(versionsSeen(frames, 'race', v)).toEqual(range(v + 1, last))
      // Nothing from the document it left arrives after it opened this one.
      const afterGet = frames.slice(frames.findIndex((f) => f.ref === (joinerStart[i] as Frame).ref))
      expect(afterGet.filter((f) => f.document === 'elsewhere')).toEqual([])
    }
    for (const [i, frames] of writerFrames.entries()) {
      const v = ((writerStart[i] as Frame).document as { version: number }).version
      expect(versionsSeen(frames, 'race', v)).toEqual(range(v + 1, last))
    }
    // Replies to the writers' own changes carried unique versions too.
    const mine = replies.map((r) => r.version as number).sort((a, b) => a - b)
    expect(mine).toEqual(range(2, last))
  })
})
