import type { Adapter, AdapterHost } from './adapter'
import type { PresenceEntry } from '../types'

/** The default adapter for one node: there are no other nodes, so presence is this node's rooms. */
export function memoryAdapter(): Adapter {
  let host: AdapterHost | undefined
  return {
    async start(h) {
      host = h
    },
    publish() {},
    sendTo() {},
    join() {},
    leave() {},
    async members(room): Promise<PresenceEntry[]> {
      return host === undefined ? [] : host.localMembers(room)
    },
    async stop() {
      host = undefined
    },
  }
}
