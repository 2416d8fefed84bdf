import { accessSync, constants } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Where the browser is: CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Flags for a quiet, sandbox-free headless chromium that makes no network calls of its own. */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

/** Why no browser can run here, or undefined when chromium is present. */
export function missingBrowser(): string | undefined {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK)
    return undefined
  } catch {
    return `no chromium at ${CHROMIUM_PATH} (install Debian's chromium or set CHROMIUM_PATH)`
  }
}

/**
 * Launches headless chromium through playwright-core. Without a chromium it prints why and resolves
 * undefined, so the caller skips, except under `CI=true`, where a missing browser is a failure.
 *
 * @example
 * const browser = await launchBrowser()
 * if (browser === undefined) return // skipped, reason printed
 */
export async function launchBrowser(): Promise<Browser | undefined> {
  const missing = missingBrowser()
  if (missing !== undefined) {
    if (process.env.CI === 'true') throw new Error(`CI=true and ${missing}`)
    console.warn(`skipping browser tests: ${missing}`)
    return undefined
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}
