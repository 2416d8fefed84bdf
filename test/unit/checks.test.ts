import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { nonNegative, optionalFunction, positive, positiveOrUnlimited } from '../../lib/checks'
import { CLOSE, isAppCloseCode } from '../../lib/errors'

describe('option checks shared by talk() and TalkClient', () => {
  it('passes a positive number through and names the owner of a bad one', () => {
    expect(positive('maxQueue', 5)).toBe(5)
    expect(() => positive('maxQueue', 0)).toThrow('talk(): maxQueue must be a positive number')
    expect(() => positive('timeout', Number.NaN, 'TalkClient')).toThrow('TalkClient: timeout must be a positive number')
    expect(() => positive('timeout', Infinity, 'TalkClient')).toThrow(TypeError)
  })

  it('lets Infinity through only where it means no limit', () => {
    expect(positiveOrUnlimited('reconnect.maxAttempts', Infinity)).toBe(Infinity)
    expect(positiveOrUnlimited('reconnect.maxAttempts', 3)).toBe(3)
    expect(() => positiveOrUnlimited('reconnect.maxAttempts', 0)).toThrow(TypeError)
  })

  it('accepts zero where zero or more is asked for, and a function or nothing where a function is', () => {
    expect(nonNegative('closeTimeout', 0)).toBe(0)
    expect(() => nonNegative('closeTimeout', -1)).toThrow('talk(): closeTimeout must be zero or more')
    const hook = (): void => undefined
    expect(optionalFunction('onReconnect', hook)).toBe(hook)
    expect(optionalFunction('onReconnect', undefined)).toBeUndefined()
    expect(() => optionalFunction('onReconnect', 'x', 'TalkClient')).toThrow('TalkClient: onReconnect must be a function')
  })
})

describe('close codes', () => {
  it('tells the codes left to apps from the ones Talk keeps', () => {
    expect([3999, 4000, 4899, 4900, CLOSE.WILL_RESUME].map(isAppCloseCode)).toEqual([false, true, true, false, false])
  })

  it('are each described in docs/protocol.md', () => {
    const doc = readFileSync(join(__dirname, '..', '..', 'docs', 'protocol.md'), 'utf8')
    const section = doc.slice(doc.indexOf('## Close codes'), doc.indexOf('## The seed conversation'))
    const missing = Object.entries(CLOSE).filter(([, code]) => !section.includes(String(code)))
    expect(missing).toEqual([])
  })
})
