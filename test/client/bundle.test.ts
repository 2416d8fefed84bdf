import { buildBrowserBundle } from '../../lib/client/build'
import { browserBundlePath, readBrowserBundle } from '../../lib/client'

describe('the browser bundle', () => {
  it('is one ES module exporting connect, createClient, TalkClient, TalkError and backoffDelay, with no Node imports', async () => {
    const js = await buildBrowserBundle()
    const exported = /export\s*\{([^}]*)\}\s*;?\s*$/.exec(js)?.[1] ?? ''
    const names = exported.split(',').map((entry) => entry.trim().split(/\s+as\s+/).pop()).sort()
    expect(names).toEqual(['TalkClient', 'TalkError', 'backoffDelay', 'connect', 'createClient'])
    expect(js).not.toMatch(/\brequire\(|from\s*["']node:|from\s*["']ws["']/)
  })

  // The package's copy is read (test/package/packed-install.test.ts); the sources have none to read.
  it('is read by readBrowserBundle() from beside the compiled library, which says how to build it when it is not there', async () => {
    await expect(readBrowserBundle()).rejects.toThrow(`The browser bundle is not at ${browserBundlePath()}: build it with npm run build`)
  })
})
