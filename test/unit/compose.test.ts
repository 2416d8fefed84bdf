import { compose } from '../../lib/compose'

/**
 * A thenable that is no Promise, as another library's promise (Bluebird's, an old driver's) is: it runs
 * `settle` on a later turn of the event loop and calls back with its outcome (a throw rejects).
 */
function later(settle: () => void): PromiseLike<void> {
  const thenable = {
    then(onFulfilled?: (value: void) => unknown, onRejected?: (reason: unknown) => unknown) {
      setImmediate(() => {
        try {
          settle()
        } catch (err) {
          onRejected?.(err)
          return
        }
        onFulfilled?.()
      })
      return thenable
    },
  }
  return thenable as PromiseLike<void>
}

describe('compose', () => {
  it('runs steps as an onion: code after next() runs after the steps below', async () => {
    const seen: string[] = []
    const run = compose<string[]>([
      async (log, next) => {
        log.push('a in')
        await next()
        log.push('a out')
      },
      (log, next) => {
        log.push('b in')
        return next().then(() => {
          log.push('b out')
        })
      },
      (log) => {
        log.push('handler')
      },
    ])
    await run(seen)
    expect(seen).toEqual(['a in', 'b in', 'handler', 'b out', 'a out'])
  })

  it('rejects when a step calls next() twice', async () => {
    const run = compose<object>([
      async (_ctx, next) => {
        await next()
        await next()
      },
      () => undefined,
    ])
    await expect(run({})).rejects.toThrow('next() called more than once')
  })

  it('propagates errors thrown synchronously or asynchronously to the caller and to outer steps', async () => {
    const caught: unknown[] = []
    const outer = async (_ctx: object, next: () => Promise<void>) => {
      try {
        await next()
      } catch (err) {
        caught.push(err)
        throw err
      }
    }
    const sync = compose<object>([outer, () => { throw new Error('sync') }])
    const async = compose<object>([outer, async () => { throw new Error('async') }])
    await expect(sync({})).rejects.toThrow('sync')
    await expect(async({})).rejects.toThrow('async')
    expect(caught.map((e) => (e as Error).message)).toEqual(['sync', 'async'])
  })

  it('stops at a step that does not call next()', async () => {
    const seen: string[] = []
    await compose<string[]>([(log) => { log.push('first') }, (log) => { log.push('never') }])(seen)
    expect(seen).toEqual(['first'])
  })

  it('resolves for an empty chain and refuses non-functions at compose time', async () => {
    await expect(compose<object>([])({})).resolves.toBeUndefined()
    expect(() => compose<object>([42 as unknown as () => void])).toThrow(TypeError)
  })

  it('composes once and runs many times with independent state', async () => {
    let count = 0
    const run = compose<object>([async (_c, next) => { await next() }, () => { count++ }])
    await Promise.all([run({}), run({}), run({})])
    expect(count).toBe(3)
  })

  it('waits for a step that returns a thenable, not a Promise, as it waits for a promise', async () => {
    const seen: string[] = []
    const run = compose<string[]>([
      async (log, next) => {
        log.push('a in')
        await next()
        log.push('a out')
      },
      (log) => later(() => log.push('thenable settled')),
    ])
    const running = run(seen)
    expect(running).toBeInstanceOf(Promise)
    await running
    expect(seen).toEqual(['a in', 'thenable settled', 'a out'])
  })

  it('rejects with the reason of a thenable that rejects, to outer steps and to the caller', async () => {
    const caught: unknown[] = []
    const run = compose<object>([
      async (_ctx, next) => {
        try {
          await next()
        } catch (err) {
          caught.push(err)
          throw err
        }
      },
      () => later(() => {
        throw new Error('late')
      }),
    ])
    await expect(run({})).rejects.toThrow('late')
    expect(caught.map((e) => (e as Error).message)).toEqual(['late'])
  })

  it('waits for a thenable returned by the first step before the chain resolves', async () => {
    let settled = false
    await compose<object>([() => later(() => (settled = true))])({})
    expect(settled).toBe(true)
  })
})
