import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Where the prebuilt browser ES module lies in the installed package: `dist/browser/talk-client.js`,
 * written by `npm run build` (the package ships it; no bundler runs on your server).
 */
export function browserBundlePath(): string {
  // This file is dist/lib/client/bundle.js in the package; the bundle is dist/browser/talk-client.js.
  return join(__dirname, '..', '..', 'browser', 'talk-client.js')
}

/**
 * Reads the prebuilt browser ES module (exports `connect`, `createClient`, `TalkClient`, `TalkError`,
 * `backoffDelay`), to serve at a URL of your choice. Rejects with an Error naming the path when the
 * file is missing, as it is when running Talk's sources before `npm run build`.
 *
 * @example
 * const js = await readBrowserBundle()
 * res.writeHead(200, { 'content-type': 'text/javascript' }).end(js)
 */
export async function readBrowserBundle(): Promise<string> {
  const path = browserBundlePath()
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw new Error(`The browser bundle is not at ${path}: build it with npm run build`, { cause: err })
  }
}
