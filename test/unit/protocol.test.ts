import { decode, encodeError, encodePush, encodeSuccess, encodeWelcome, colonName, slashName } from '../../lib/protocol'
import { TalkError } from '../../lib/errors'

function bad(text: string) {
  const result = decode(text)
  if (result.ok) throw new Error('expected a decode failure')
  return { ref: result.ref, code: result.error.code, message: result.error.message }
}

describe('protocol codec', () => {
  it('decodes a command with its ref and the rest as body', () => {
    expect(decode('{"command":"document:create","id":"hello-world","ref":7}')).toEqual({
      ok: true,
      envelope: { name: 'document/create', ref: 7, body: { id: 'hello-world' } },
    })
    expect(decode('{"route":"document/get","id":"4"}')).toEqual({
      ok: true,
      envelope: { name: 'document/get', ref: undefined, body: { id: '4' } },
    })
  })

  it('accepts route and command together only when they name the same route', () => {
    expect(decode('{"route":"a/b","command":"a:b"}').ok).toBe(true)
    expect(bad('{"route":"a/b","command":"a:c","ref":"r"}')).toEqual({ ref: 'r', code: 'BAD_REQUEST', message: '"route" and "command" name different routes' })
  })

  it('answers BAD_REQUEST for every malformed envelope', () => {
    expect(bad('not json').code).toBe('BAD_REQUEST')
    expect(bad('[1,2]').message).toBe('Frame must be a JSON object')
    expect(bad('42').message).toBe('Frame must be a JSON object')
    expect(bad('null').message).toBe('Frame must be a JSON object')
    expect(bad('{"id":1,"ref":3}')).toEqual({ ref: 3, code: 'BAD_REQUEST', message: 'Frame has no "route" or "command"' })
    expect(bad('{"route":5}').message).toBe('"route" must be a string')
    expect(bad('{"command":{}}').message).toBe('"command" must be a string')
    expect(bad('{"command":""}').message).toBe('Route name is empty')
    for (const ref of ['1.5', '{}', '[]', 'true', '9007199254740993', JSON.stringify('x'.repeat(65))]) {
      expect(bad(`{"command":"a","ref":${ref}}`)).toEqual({ ref: undefined, code: 'BAD_REQUEST', message: expect.stringContaining('"ref"') })
    }
  })

  it('keeps a "__proto__" payload key as a plain own field, never a prototype', () => {
    const result = decode('{"command":"a","__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}')
    if (!result.ok) throw new Error('decode failed')
    const body = result.envelope.body
    expect(Object.getPrototypeOf(body)).toBe(Object.prototype)
    expect((body as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.keys(body)).toEqual(['__proto__', 'constructor'])
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })

  it('encodes replies with the payload spread flat and reserved fields protected', () => {
    expect(JSON.parse(encodeSuccess(undefined))).toEqual({ status: 'success' })
    expect(JSON.parse(encodeSuccess('r1', { document: { id: 'x' }, 'active-users': ['a'] }))).toEqual({
      status: 'success', ref: 'r1', document: { id: 'x' }, 'active-users': ['a'],
    })
    expect(JSON.parse(encodeSuccess(3, { status: 'hijack', ref: 9, error: 'no', ok: 1 }))).toEqual({ status: 'success', ref: 3, ok: 1 })
    expect(JSON.parse(encodeSuccess(1, {}))).toEqual({ status: 'success', ref: 1 })
  })

  it('encodes errors: TalkError fields, anything else as INTERNAL without internals', () => {
    expect(JSON.parse(encodeError(2, new TalkError('NOT_FOUND', 'No such thing', { id: 'x' })))).toEqual({
      status: 'error', ref: 2, error: { code: 'NOT_FOUND', message: 'No such thing', details: { id: 'x' } },
    })
    expect(JSON.parse(encodeError(undefined, new Error('secret stack')))).toEqual({
      status: 'error', error: { code: 'INTERNAL', message: 'Internal server error' },
    })
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(JSON.parse(encodeError(1, new TalkError('CONFLICT', 'x', cyclic)))).toEqual({ status: 'error', ref: 1, error: { code: 'CONFLICT', message: 'x' } })
  })

  it('encodes pushes in colon form without status', () => {
    expect(JSON.parse(encodePush('node/create', { type: 't', status: 'x', command: 'y' }))).toEqual({ command: 'node:create', type: 't' })
    expect(JSON.parse(encodePush('welcome'))).toEqual({ command: 'welcome' })
  })

  it('writes the welcome out exactly as encodePush would, for any client id and codec', () => {
    for (const id of ['6f1c2b7e-0d3a-4e55-9a51-0c9e3f1b2a77', 'c1', 'quote " and \\ slash', 'ünïcødé 🚀', '']) {
      expect(encodeWelcome(id)).toBe(encodePush('welcome', { client: id, protocol: 1 }))
      expect(JSON.parse(encodeWelcome(id))).toEqual({ command: 'welcome', client: id, protocol: 1 })
    }
    const spaced = { parse: JSON.parse, stringify: (value: unknown) => JSON.stringify(value, null, 1) }
    expect(encodeWelcome('c1', spaced)).toBe('{"command":"welcome",\n "client": "c1",\n "protocol": 1\n}')
  })

  it('writes the welcome of a resumable session exactly as encodePush would, with and without resumed', () => {
    const token = 'AbC-_9xyz'
    expect(encodeWelcome('c1', undefined, { token })).toBe(encodePush('welcome', { client: 'c1', protocol: 1, resume: token }))
    for (const resumed of [true, false]) {
      expect(encodeWelcome('c1', undefined, { token, resumed })).toBe(encodePush('welcome', { client: 'c1', protocol: 1, resume: token, resumed }))
    }
    const spaced = { parse: JSON.parse, stringify: (value: unknown) => JSON.stringify(value, null, 1) }
    expect(encodeWelcome('c1', spaced, { token, resumed: false })).toBe(encodePush('welcome', { client: 'c1', protocol: 1, resume: token, resumed: false }, spaced))
  })

  it('converts names between spellings', () => {
    expect(slashName('a:b:c')).toBe('a/b/c')
    expect(colonName('a/b/c')).toBe('a:b:c')
    expect(slashName('plain')).toBe('plain')
  })
})
