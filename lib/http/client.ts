import { NO_ROOMS } from '../rooms'
import type { Client, ClientState, HandshakeInfo, User } from '../types'

/**
 * The client behind one bridged HTTP request, as `ctx.client` shows it. It lives for that request
 * only: `state` starts as the handshake hooks left it and is dropped with the response, it is in no
 * room (`ctx.join()` does nothing), and `push()` / `close()` do nothing, for there is no socket.
 */
export class HttpClient implements Client {
  readonly rooms = NO_ROOMS

  constructor(
    readonly id: string,
    public user: User | undefined,
    readonly state: ClientState,
    readonly handshake: HandshakeInfo,
  ) {}

  /** Dropped: an HTTP client cannot be pushed to. */
  push(): void {}

  /** Does nothing: the response ends when the request is answered. */
  close(): void {}
}

/** Whether a client is a bridged HTTP request rather than a socket connection. */
export function isHttpClient(client: Client): client is HttpClient {
  return client instanceof HttpClient
}
