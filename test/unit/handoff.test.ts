import { EVERYONE, type CapturedPush, type PushCapture } from '../../lib/adapters/adapter'
import { Handoff, type Moved, type MovedSession } from '../../lib/resume/handoff'

const session: MovedSession = {
  id: 'me', user: undefined, state: {}, rooms: ['r1', 'r2'], absent: false, epoch: 0,
  pushes: 3, missed: [], answered: [], running: [], ownSeq: 10,
}
const capture: PushCapture = { stop: () => [] }
const moved: Moved = { owner: 'A', session, capture }

function push(origin: string, seq: number, rooms: CapturedPush['rooms'], client: string | undefined, frame: string): CapturedPush {
  return { origin, seq, rooms, client, frame }
}

describe('a session moving between nodes', () => {
  it('takes from the record the pushes for the session that its snapshot does not hold, in order', () => {
    const captured = [
      push('A', 9, 'r1', undefined, 'a9: delivered on A before the snapshot'),
      push('C', 3, 'r1', undefined, 'c3'),
      push('A', 10, ['r2', 'x'], undefined, 'a10: delivered on A before the snapshot'),
      push('A', 11, 'r2', undefined, 'a11'),
      push('A', 0, 'r1', undefined, 'a-ordered: off the channel after the mark'),
      push('C', 4, 'elsewhere', undefined, 'c4: another room'),
      push('C', 5, 'r1', 'me', 'c5: the session is the sender'),
      push('B', 1, undefined, 'me', 'b1: to the session'),
      push('B', 2, undefined, 'other', 'b2: to another client'),
      push('C', 6, EVERYONE, undefined, 'c6: to everyone'),
      push('C', 7, ['x', 'r2'], 'other', 'c7'),
    ]
    expect(Handoff.missedSince(moved, captured)).toEqual([
      'c3', 'a11', 'a-ordered: off the channel after the mark', 'b1: to the session', 'c6: to everyone', 'c7',
    ])
  })

  it('reads the issuing node from a token, none from a token of a single node', () => {
    expect(Handoff.ownerOf('node-1.abc_-')).toBe('node-1')
    expect(Handoff.ownerOf('abc_-def')).toBeUndefined()
  })
})
