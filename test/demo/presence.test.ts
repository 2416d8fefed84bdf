import WebSocket from 'ws'
import { Demo } from './demo-server'

/** One raw socket of the storm: its user name, the active users its get returned with every delta applied, and the bytes of presence pushes it got. */
interface Member {
  name: string
  socket: WebSocket
  users: Set<string> | undefined
  /** Deltas that arrived before the get's reply (the page ignores them: its document is not open yet). */
  early: number
  bytes: number
  frames: number
  closed: number | undefined
  /** Called after each delta is applied. */
  changed?: () => void
}

/** Bytes of a frame on the wire, as text. */
const size = (frame: object): number => Buffer.byteLength(JSON.stringify(frame))

describe('active users in the documents demo', () => {
  let demo: Demo
  beforeEach(async () => {
    demo = await Demo.start()
  })
  afterEach(() => demo.close())

  it("a page that closes without a code (a browser's ws.close(), 1005) drops off the others' list at once", async () => {
    const ann = await demo.client('ann')
    const bob = await demo.client('bob')
    await ann.request('document:create', { id: 'bye' })
    await bob.request('document:get', { id: 'bye' })
    expect(await ann.nextPush()).toEqual({ command: 'document:users', document: 'bye', joined: ['bob'], left: [] })
    bob.socket.close()
    // Not after the 2-minute resume window: now.
    expect(await ann.nextPush()).toEqual({ command: 'document:users', document: 'bye', joined: [], left: ['bob'] })
    expect(demo.server.app.sessions?.parked).toBe(0)
  })

  it('tells the others of a user, not of each tab: a second tab coming or going is no news', async () => {
    const ann = await demo.client('ann')
    const bob = await demo.client('bob')
    const bob2 = await demo.client('bob')
    await ann.request('document:create', { id: 'tabs' })
    await bob.request('document:get', { id: 'tabs' })
    expect(await ann.nextPush()).toEqual({ command: 'document:users', document: 'tabs', joined: ['bob'], left: [] })
    expect(await bob2.request('document:get', { id: 'tabs' })).toMatchObject({ 'active-users': ['ann', 'bob'] })
    await bob2.close()
    await bob.request('document:leave', {})
    expect(await ann.nextPush()).toEqual({ command: 'document:users', document: 'tabs', joined: [], left: ['bob'] })
    expect(ann.pendingPushes).toEqual([])
  })

  it('1,000 clients join one document with presence pushes of O(N) bytes per join, every list right', async () => {
    const N = 1000
    const members: Member[] = []
    const connect = (i: number): Promise<Member> =>
      new Promise((resolve, reject) => {
        const name = `u${String(i).padStart(4, '0')}`
        const socket = new WebSocket(`${demo.wsUrl}/?user=${name}`)
        const member: Member = { name, socket, users: undefined, early: 0, bytes: 0, frames: 0, closed: undefined }
        socket.on('error', reject)
        socket.on('close', (code) => (member.closed = code))
        socket.on('message', (data: Buffer) => {
          const frame = JSON.parse(data.toString()) as Record<string, unknown>
          if (frame.command === 'welcome') return resolve(member)
          if (frame.command === 'document:users') {
            member.bytes += data.length
            member.frames++
            if (member.users === undefined) return void member.early++
            for (const left of frame.left as string[]) member.users.delete(left)
            for (const joined of frame.joined as string[]) member.users.add(joined)
            member.changed?.()
            return
          }
          if (frame.status === 'success' && Array.isArray(frame['active-users'])) member.users = new Set(frame['active-users'] as string[])
          else if (frame.status !== 'success') reject(new Error(`${name}: ${JSON.stringify(frame)}`))
        })
      })
    const first = await connect(0)
    members.push(first)
    const created = new Promise((resolve) => first.socket.once('message', resolve))
    first.socket.send(JSON.stringify({ command: 'document:create', id: 'storm', ref: 1 }))
    await created
    const got = new Promise((resolve) => first.socket.once('message', resolve))
    first.socket.send(JSON.stringify({ command: 'document:get', id: 'storm', ref: 2 }))
    await got
    // The others arrive 50 at a time, each joining as soon as it is welcomed.
    for (let i = 1; i < N; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => connect(i + k)))
      await Promise.all(
        batch.map((m) => {
          members.push(m)
          return new Promise<void>((resolve) => {
            const check = (data: Buffer) => {
              if (!data.toString().startsWith('{"status"')) return
              m.socket.off('message', check)
              resolve()
            }
            m.socket.on('message', check)
            m.socket.send(JSON.stringify({ command: 'document:get', id: 'storm', ref: 1 }))
          })
        }),
      )
    }
    // Everyone has every push once a last round trip is answered (pushes to a socket keep order).
    await Promise.all(
      members.map((m) => new Promise<void>((resolve) => {
        const check = (data: Buffer) => {
          if (!data.toString().startsWith('{"status"')) return
          m.socket.off('message', check)
          resolve()
        }
        m.socket.on('message', check)
        m.socket.send(JSON.stringify({ route: 'talk/ping', ref: 'last' }))
      })),
    )

    const everyone = members.map((m) => m.name).sort()
    for (const m of members) expect([...(m.users ?? [])].sort()).toEqual(everyone)
    expect(members.filter((m) => m.closed !== undefined)).toEqual([])
    const bytes = members.reduce((sum, m) => sum + m.bytes, 0)
    const frames = members.reduce((sum, m) => sum + m.frames, 0)
    // Each join is one delta frame to each member already there: N(N-1)/2 frames in all, at most.
    const delta = size({ command: 'document:users', document: 'storm', joined: ['u0999'], left: [] })
    expect(frames).toBeLessThanOrEqual((N * (N - 1)) / 2)
    expect(bytes).toBeLessThanOrEqual(frames * delta)
    // Before, the k-th join pushed the whole list of k names to the k-1 already there: O(N²) bytes per
    // join, 2.7 GB for these 1,000 joins against some 38 MB now.
    let fullLists = 0
    for (let k = 2; k <= N; k++) fullLists += (k - 1) * size({ command: 'document:users', document: 'storm', 'active-users': everyone.slice(0, k) })
    expect(bytes * 50).toBeLessThan(fullLists)

    // Half of them close their tabs at once (ws.close(): goodbyes). The rest see them go, in pushes
    // coalesced per turn: well under one frame per leave per member.
    const leaving = members.filter((_, i) => i % 2 === 1)
    const staying = members.filter((_, i) => i % 2 === 0)
    const remaining = staying.map((m) => m.name).sort()
    for (const m of staying) {
      m.bytes = 0
      m.frames = 0
    }
    const seen = Promise.all(staying.map((m) => new Promise<void>((resolve) => {
      m.changed = () => {
        if (m.users?.size === remaining.length) resolve()
      }
    })))
    for (const m of leaving) m.socket.close()
    await seen
    for (const m of staying) expect([...(m.users ?? [])].sort()).toEqual(remaining)
    const leaveFrames = staying.reduce((sum, m) => sum + m.frames, 0)
    expect(leaveFrames).toBeLessThan(leaving.length * staying.length)
    await Promise.all(staying.map((m) => new Promise((resolve) => {
      m.socket.once('close', resolve)
      m.socket.close()
    })))
  }, 60_000)
})
