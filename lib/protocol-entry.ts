/**
 * The `talk/protocol` entry: what lies under the app, for tools that speak the wire themselves (a
 * custom transport, a load generator, a protocol test) — the codec, the wire's constants, resumable
 * sessions and the handshake guard. Apps need none of it: `talk` has what they use. Re-exports only.
 */
export {
  decode, encodeSuccess, encodeError, encodePush, slashName, colonName, JSON_CODEC, PROTOCOL_VERSION,
  PING_ROUTE, RESUME_PARAM, SEEN_PARAM, PROTOCOL_TOKEN_PREFIX, TALK_SUBPROTOCOL,
  type Codec, type Ref, type Envelope, type Decoded,
} from './protocol'
export { Sessions, Session, type SessionsHost, type Claim } from './resume'
export { HandshakeGuard } from './security/guard'
