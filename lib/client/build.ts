import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/**
 * The bundle's entry: named re-exports of the browser entry next to this file (browser.ts from source,
 * browser.js from dist). Going through ESM re-exports keeps the names even when browser.js is CommonJS.
 */
const ENTRY = "export { connect, createClient, TalkClient, TalkError, backoffDelay } from './browser'"

/**
 * Builds the browser ES module (exports `connect`, `createClient`, `TalkClient`, `TalkError`, `backoffDelay`)
 * in memory with esbuild, minified, and resolves with its JavaScript. A build-time tool of this repository
 * (esbuild is a dev dependency, and this file is left out of the package): `npm run build` writes the bundle
 * the package ships, which `readBrowserBundle()` reads.
 *
 * @example
 * const js = await buildBrowserBundle()
 * res.writeHead(200, { 'content-type': 'text/javascript' }).end(js)
 */
export async function buildBrowserBundle(): Promise<string> {
  const esbuild = await import('esbuild')
  const result = await esbuild.build({
    stdin: { contents: ENTRY, resolveDir: __dirname, sourcefile: 'talk-client-bundle-entry.js', loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  })
  const file = result.outputFiles[0]
  if (file === undefined) throw new Error('esbuild produced no output')
  return file.text
}

/** Writes the bundle to a file (default dist/browser/talk-client.js under the working directory): `npm run build` and `npm run build:client`. */
export async function writeBrowserBundle(path = join(process.cwd(), 'dist', 'browser', 'talk-client.js')): Promise<string> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, await buildBrowserBundle())
  return path
}

if (require.main === module) {
  writeBrowserBundle(process.argv[2]).then(
    (path) => console.log(`wrote ${path}`),
    (err: unknown) => {
      console.error(err)
      process.exitCode = 1
    },
  )
}
