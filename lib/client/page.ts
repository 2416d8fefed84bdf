import type { RouteMap } from '../types'
import type { HeartbeatOptions } from './heartbeat'
import type { TalkClient } from './talk-client'

/** Heartbeat of a page that is visible (someone is looking: a dead link shows within seconds) and hidden, in ms. */
const VISIBLE_PING = 5000
const HIDDEN_PING = 15_000
/** How long a probe waits for the server after the page comes back into view or the network returns, in ms. */
const PROBE_TIMEOUT = 2000

/** The page events a browser client follows; absent outside a page (a worker, a test). */
interface PageEvents {
  addEventListener(type: string, listener: () => void): void
  removeEventListener(type: string, listener: () => void): void
}

type Page = Partial<PageEvents> & { document?: { visibilityState?: string } & Partial<PageEvents> }

const page = globalThis as unknown as Page

function visible(): boolean {
  return page.document?.visibilityState !== 'hidden'
}

/** The heartbeat a browser client starts with: the one given, else paced by the page's visibility (5 s visible, 15 s hidden). */
export function pageHeartbeat(given: HeartbeatOptions | false | undefined): HeartbeatOptions | false {
  return given ?? { interval: visible() ? VISIBLE_PING : HIDDEN_PING }
}

/**
 * Makes a client follow the page it runs in: `offline` counts the connection lost at once and `online`
 * reconnects; a page that becomes visible probes its connection (dead within 2 s) and, when `paced`,
 * pings every 5 s while visible and 15 s while hidden. A client closed for good stops following.
 */
export function followPage<R extends RouteMap>(client: TalkClient<R>, paced: boolean): void {
  const offline = (): void => client.networkLost()
  const online = (): void => client.networkBack()
  const shown = (): void => {
    if (paced) client.setHeartbeatInterval(visible() ? VISIBLE_PING : HIDDEN_PING)
    if (visible()) client.probe(PROBE_TIMEOUT)
  }
  const doc = page.document
  const follows = typeof page.addEventListener === 'function' && typeof page.removeEventListener === 'function'
  const watches = typeof doc?.addEventListener === 'function' && typeof doc.removeEventListener === 'function'
  if (follows) {
    page.addEventListener?.('offline', offline)
    page.addEventListener?.('online', online)
  }
  if (watches) doc?.addEventListener?.('visibilitychange', shown)
  client.on('close', ({ willReconnect }) => {
    if (willReconnect) return
    page.removeEventListener?.('offline', offline)
    page.removeEventListener?.('online', online)
    doc?.removeEventListener?.('visibilitychange', shown)
  })
}
