import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/**
 * The bundle's entry: named re-exports of the browser entry (browser.ts). Going through ESM re-exports
 * keeps the names even when the entry found is tsc's CommonJS browser.js.
 */
const ENTRY = "export { connect, createClient, TalkClient, TalkError, backoffDelay } from './browser'"

/**
 * Where the bundle's sources are: this folder when it holds the TypeScript (ts-node, tests), else the
 * repository's lib/client beside dist/ (`npm run build` runs dist/lib/client/build.js). The ES-module
 * sources bundle smaller than tsc's CommonJS output: esbuild drops what the browser never uses, and no
 * file needs a module wrapper. Without sources, the compiled files next to this one are bundled.
 */
function sourceDir(): string {
  if (existsSync(join(__dirname, 'browser.ts'))) return __dirname
  const sources = join(__dirname, '..', '..', '..', 'lib', 'client')
  return existsSync(join(sources, 'browser.ts')) ? sources : __dirname
}

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
    stdin: { contents: ENTRY, resolveDir: sourceDir(), sourcefile: 'talk-client-bundle-entry.js', loader: 'js' },
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
