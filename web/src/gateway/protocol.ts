// Discord Gateway v10 on the wire: opcodes, payloads, intents and what each close
// code asks of the client. Pure data; the connection logic is in client.ts.

export const Op = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
} as const;

export interface Payload {
  op: number;
  d: unknown;
  s?: number | null;
  t?: string | null;
}

/** The intents a person's client asks for: everything it shows. A person's own
 * client may ask for the privileged ones (members, presences, message content). */
export const CLIENT_INTENTS =
  (1 << 0) | // GUILDS
  (1 << 1) | // GUILD_MEMBERS
  (1 << 7) | // GUILD_VOICE_STATES
  (1 << 8) | // GUILD_PRESENCES
  (1 << 9) | // GUILD_MESSAGES
  (1 << 10) | // GUILD_MESSAGE_REACTIONS
  (1 << 11) | // GUILD_MESSAGE_TYPING
  (1 << 12) | // DIRECT_MESSAGES
  (1 << 13) | // DIRECT_MESSAGE_REACTIONS
  (1 << 14) | // DIRECT_MESSAGE_TYPING
  (1 << 15); // MESSAGE_CONTENT

/** What a close code tells the client to do next. */
export type CloseAction =
  /** Reconnect and Resume the session. */
  | 'resume'
  /** The session is gone: reconnect and Identify anew. */
  | 'identify'
  /** Reconnecting cannot help (bad token, bad intents): stop. */
  | 'fatal';

export function closeAction(code: number): CloseAction {
  switch (code) {
    case 4004: // Authentication failed
    case 4010: // Invalid shard
    case 4011: // Sharding required
    case 4012: // Invalid API version
    case 4013: // Invalid intent(s)
    case 4014: // Disallowed intent(s)
      return 'fatal';
    case 4007: // Invalid seq
    case 4009: // Session timed out
      return 'identify';
    default:
      // 1000/1001 from the server, 1006 (connection lost), 4000–4008: resumable.
      return 'resume';
  }
}

/** The connection URL for `base` (`ws://host/gateway`). */
export function gatewayUrl(base: string): string {
  const url = new URL(base);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = 'v=10&encoding=json';
  return url.toString();
}

/** `ws(s)://<this origin>/gateway`: the gateway is served by the same front door. */
export function sameOriginGateway(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/gateway`;
}
