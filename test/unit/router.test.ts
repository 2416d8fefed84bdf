import { registeredName, Router, RouteTable } from '../../lib/router'
import { slashName } from '../../lib/protocol'

function table(router: Router): RouteTable<string> {
  const t = new RouteTable<string>()
  for (const def of router.definitions()) t.add(def.name, def.name)
  return t
}

const lookup = <T>(t: RouteTable<T>, name: string) => t.match(name)

const noop = (): void => undefined

describe('router', () => {
  it('registers colon and slash spellings as one name', () => {
    expect(registeredName('document:get')).toBe('document/get')
    expect(registeredName('document/get')).toBe('document/get')
    expect(registeredName('document/:id/nodes')).toBe('document/:id/nodes')
    expect(registeredName('a:b:c')).toBe('a/b/c')
    const router = new Router().route('document:get', noop)
    expect(() => router.route('document/get', noop)).toThrow('already registered')
  })

  it('refuses empty names and empty segments at registration', () => {
    for (const bad of ['', '/x', 'x/', 'a//b', 'a:']) expect(() => registeredName(bad)).toThrow(TypeError)
    expect(() => new Router().route('x', 42 as unknown as () => void)).toThrow(TypeError)
  })

  it('matches static names exactly: case-sensitive, no trailing separator, no decoding', () => {
    const t = table(new Router().route('document/get', noop))
    expect(lookup(t, 'document/get')).toEqual({ value: 'document/get', params: {} })
    for (const miss of ['Document/get', 'document/get/', 'documentXYZ', 'document', 'document%2Fget', 'toString', '__proto__', 'constructor']) {
      expect(lookup(t, slashName(miss))).toBeUndefined()
    }
    expect(lookup(t, slashName('document:get'))?.value).toBe('document/get')
  })

  it('puts parameters of patterns into params, without decoding them', () => {
    const t = table(new Router().route('document/:id/nodes', noop).route('files/*path', noop))
    expect(lookup(t, 'document/42/nodes')).toEqual({ value: 'document/:id/nodes', params: { id: '42' } })
    expect(lookup(t, 'document/a%20b/nodes')?.params).toEqual({ id: 'a%20b' })
    expect(lookup(t, 'files/a/b/c')).toEqual({ value: 'files/*path', params: { path: 'a/b/c' } })
    expect(lookup(t, 'document/42/nodes/')).toBeUndefined()
    expect(lookup(t, 'document//nodes')).toBeUndefined()
  })

  it('mounts routers under a prefix, nested, with their middleware before the route’s own', () => {
    const mwA = (): void => undefined
    const mwB = (): void => undefined
    const own = (): void => undefined
    const inner = new Router().use(mwB).route('get', own, noop)
    const outer = new Router().use(mwA).use('nodes', inner)
    const app = new Router().use('document/:id', outer)
    const defs = app.definitions()
    expect(defs.map((d) => d.name)).toEqual(['document/:id/nodes/get'])
    expect(defs[0]?.middleware.map((m) => m.fn)).toEqual([mwA, mwB, own])
    expect(lookup(table(app), 'document/7/nodes/get')?.params).toEqual({ id: '7' })
  })

  it('sees routes added to a router after it was mounted', () => {
    const inner = new Router()
    const app = new Router().use('doc', inner)
    inner.route('list', noop)
    expect(app.definitions().map((d) => d.name)).toEqual(['doc/list'])
  })

  it('refuses to mount a router inside itself and bad use() arguments', () => {
    const a = new Router()
    const b = new Router().use('a', a)
    expect(() => a.use('b', b)).toThrow(TypeError)
    expect(() => a.use(42 as unknown as () => void)).toThrow(TypeError)
    expect(() => a.use('x/{', noop)).toThrow()
  })
})
