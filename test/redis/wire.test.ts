import { decodeMessage, encodeBatch, encodeHandoff, encodeOne, encodeOrdered, type MessageSink } from '../../lib/adapters/redis-wire'

/** A sink that writes down every push it is handed, in order. */
function recorder(): { sink: MessageSink; log: unknown[][] } {
  const log: unknown[][] = []
  return {
    log,
    sink: {
      rooms: (origin, rooms, frame, except) => log.push(['rooms', origin, rooms, frame, except]),
      client: (origin, clientId, frame) => log.push(['client', origin, clientId, frame]),
      ordered: (origin, id, rooms, frame, except) => log.push(['ordered', origin, id, rooms, frame, except]),
    },
  }
}

describe('the Redis adapter\'s messages', () => {
  it('carries a push alone in the single-push format', () => {
    const { sink, log } = recorder()
    const message = encodeOne('n1', 'r', 'room', 'c1', '{"command":"a"}')
    expect(message).toBe('["r","n1","room","c1"]\n{"command":"a"}')
    expect(decodeMessage(message, 'n2', sink)).toBe(1)
    expect(decodeMessage(encodeOne('n1', 'c', 'c9', undefined, '{"command":"b"}'), 'n2', sink)).toBe(1)
    expect(decodeMessage(encodeOrdered('n1', ['x', 'y'], undefined, 7, '{"command":"c"}'), 'n1', sink)).toBe(1)
    expect(log).toEqual([
      ['rooms', 'n1', 'room', '{"command":"a"}', 'c1'],
      ['client', 'n1', 'c9', '{"command":"b"}'],
      ['ordered', 'n1', 7, ['x', 'y'], '{"command":"c"}', undefined],
    ])
  })

  it('carries a turn\'s pushes in one message and hands them on in order, whatever their frames hold', () => {
    const { sink, log } = recorder()
    const frames = ['{"command":"a","text":"line\\nbreak"}', 'raw\nnewline and ["b",', '{"command":"é 🎉"}']
    const flat = ['r', 'room', 'c1', frames[0], 'c', 'c2', undefined, frames[1], 'r', ['x', 'y'], undefined, frames[2]]
    const message = encodeBatch('n1', flat, 3)
    expect(decodeMessage(message, 'n2', sink)).toBe(3)
    expect(log).toEqual([
      ['rooms', 'n1', 'room', frames[0], 'c1'],
      ['client', 'n1', 'c2', frames[1]],
      ['rooms', 'n1', ['x', 'y'], frames[2], undefined],
    ])
  })

  it('skips the pushes a node sent itself, except ordered ones', () => {
    const { sink, log } = recorder()
    expect(decodeMessage(encodeBatch('n1', ['r', 'room', undefined, '{}', 'r', 'room', undefined, '[]'], 2), 'n1', sink)).toBe(0)
    expect(decodeMessage(encodeOne('n1', 'r', 'room', undefined, '{}'), 'n1', sink)).toBe(0)
    expect(log).toEqual([])
  })

  it('refuses a message that is not Talk\'s, handing nothing on', () => {
    const { sink, log } = recorder()
    const good = encodeBatch('n1', ['r', 'room', undefined, '{"a":1}', 'c', 'c2', undefined, '{"b":2}'], 2)
    for (const bad of [
      'no header at all',
      'not json\n{}',
      '["r","n1",5,null]\n{}',
      '["x","n1","room",null]\n{}',
      '["o","n1","room",null,1.5]\n{}',
      good.slice(0, -1),
      `${good}x`,
      '["b","n1",[["r","room",null,-1]]]\n',
      '["b","n1",[["c","c1"]]]\n{}',
    ]) {
      expect(decodeMessage(bad, 'n2', sink)).toBe(-1)
    }
    expect(log).toEqual([])
  })

  it('numbers a node\'s messages, and reads a handoff message addressed to any node', () => {
    const log: unknown[][] = []
    const sink: MessageSink = {
      rooms: (origin, rooms, frame, except, seq) => log.push(['rooms', origin, rooms, frame, except, seq]),
      client: (origin, clientId, frame, seq) => log.push(['client', origin, clientId, frame, seq]),
      ordered: () => log.push(['ordered']),
      handoff: (origin, to, body) => log.push(['handoff', origin, to, body]),
    }
    const one = encodeOne('n1', 'r', 'room', undefined, '{}', 7)
    expect(one).toBe('["r","n1","room",null,7]\n{}')
    expect(decodeMessage(one, 'n2', sink)).toBe(1)
    expect(decodeMessage(one, 'n1', sink)).toBe(0)
    expect(decodeMessage(encodeBatch('n1', ['c', 'c1', undefined, '[]'], 1, 8), 'n2', sink)).toBe(1)
    expect(decodeMessage(encodeOne('n1', 'c', 'c2', undefined, '{}'), 'n2', sink)).toBe(1)
    expect(decodeMessage(encodeHandoff('n1', 'n2', '{"t":"mark"}'), 'n1', sink)).toBe(0)
    expect(decodeMessage('["r","n1","room",null,0]\n{}', 'n2', sink)).toBe(-1)
    expect(decodeMessage('["b","n1",[["c","c1",2]],"7"]\n[]', 'n2', sink)).toBe(-1)
    expect(log).toEqual([
      ['rooms', 'n1', 'room', '{}', undefined, 7],
      ['client', 'n1', 'c1', '[]', 8],
      ['client', 'n1', 'c2', '{}', 0],
      ['handoff', 'n1', 'n2', '{"t":"mark"}'],
    ])
  })
})
