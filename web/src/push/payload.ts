// What a push from CloudCord carries (the server encrypts it for this browser's
// subscription; the browser decrypts it before the service worker sees it) and the
// notification it becomes. Shared by the service worker and its tests, so it uses
// nothing of the page (no DOM) and nothing of the worker.

/** Why the person is told: they were mentioned, replied to, or sent a DM. */
export type PushReason = 'mention' | 'reply' | 'dm';

/** The decrypted payload of one push (`type: "message"`). */
export interface PushPayload {
  messageId: string;
  channelId: string;
  guildId: string | null;
  title: string;
  body: string;
  /** The client's own path of the message's channel (`/channels/…`). */
  url: string;
  reason: PushReason;
}

/** What `showNotification` gets for a payload. */
export interface PushNotification {
  title: string;
  options: { body: string; tag: string; data: { url: string } };
}

const REASONS: readonly string[] = ['mention', 'reply', 'dm'];

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** The payload in `data`, or `null` for anything else (an unknown `type` from a newer
 * server, a malformed body): a push this client cannot read shows nothing. */
export function parsePushPayload(data: unknown): PushPayload | null {
  if (typeof data !== 'object' || data === null) return null;
  const fields = data as Record<string, unknown>;
  const [messageId, channelId, title, body, url, reason] = [
    text(fields.message_id),
    text(fields.channel_id),
    text(fields.title),
    text(fields.body),
    text(fields.url),
    text(fields.reason),
  ];
  if (fields.type !== 'message' || messageId === null || channelId === null || title === null || body === null) return null;
  // Only a path of this client is opened on click, never another origin.
  if (url?.startsWith('/channels/') !== true || reason === null || !REASONS.includes(reason)) return null;
  const guildId = text(fields.guild_id);
  return { messageId, channelId, guildId, title, body, url, reason: reason as PushReason };
}

/** The notification of `payload`; the message id as its tag keeps a push that comes
 * twice (the server sends at least once) from showing twice. */
export function notificationFor(payload: PushPayload): PushNotification {
  return { title: payload.title, options: { body: payload.body, tag: payload.messageId, data: { url: payload.url } } };
}
