// The REST calls the client makes, typed; the paths are Discord's. Guilds, channels,
// members and presences arrive through the gateway (GUILD_CREATE and what follows),
// so REST is for history and for writes.

import type { RestClient } from './rest';
import type { Ban, Channel, Guild, Invite, Message, MyGuild, Role, Snowflake, User, UserSession } from './types';

/** One page of history (the server's maximum is 100). */
export const HISTORY_PAGE = 50;

export function endpoints(rest: RestClient) {
  const id = encodeURIComponent;
  return {
    createGuild: (name: string) => rest.request<Guild>('POST', '/guilds', { name }),
    createInvite: (channel: Snowflake) =>
      rest.request<Invite>('POST', `/channels/${id(channel)}/invites`, { max_age: 86400 }),
    acceptInvite: (code: string) => rest.request<Invite>('POST', `/invites/${id(code)}`),
    guildInvites: (guild: Snowflake) => rest.request<Invite[]>('GET', `/guilds/${id(guild)}/invites`),
    revokeInvite: (code: string) => rest.request<Invite>('DELETE', `/invites/${id(code)}`),

    /** `type`: 0 text, 2 voice, 4 category; `parent`: the category it goes in. */
    createChannel: (guild: Snowflake, name: string, type: number, parent: Snowflake | null) =>
      rest.request<Channel>('POST', `/guilds/${id(guild)}/channels`, {
        name,
        type,
        ...(parent === null ? {} : { parent_id: parent }),
      }),

    /** Sets a role's (`type` 0) or member's (1) overwrite on a channel. */
    editChannelPermission: (channel: Snowflake, target: Snowflake, type: 0 | 1, allow: string, deny: string) =>
      rest.request<undefined>('PUT', `/channels/${id(channel)}/permissions/${id(target)}`, { type, allow, deny }),
    deleteChannelPermission: (channel: Snowflake, target: Snowflake) =>
      rest.request<undefined>('DELETE', `/channels/${id(channel)}/permissions/${id(target)}`),

    /** Sets the guild's icon (Discord's image data, see images.ts) or, with null,
     * removes it. */
    modifyGuildIcon: (guild: Snowflake, icon: string | null) =>
      rest.request<Guild>('PATCH', `/guilds/${id(guild)}`, { icon }),

    createRole: (guild: Snowflake, name: string) => rest.request<Role>('POST', `/guilds/${id(guild)}/roles`, { name }),
    modifyRole: (guild: Snowflake, role: Snowflake, changes: { name?: string; permissions?: string }) =>
      rest.request<Role>('PATCH', `/guilds/${id(guild)}/roles/${id(role)}`, changes),
    deleteRole: (guild: Snowflake, role: Snowflake) =>
      rest.request<undefined>('DELETE', `/guilds/${id(guild)}/roles/${id(role)}`),
    addMemberRole: (guild: Snowflake, user: Snowflake, role: Snowflake) =>
      rest.request<undefined>('PUT', `/guilds/${id(guild)}/members/${id(user)}/roles/${id(role)}`),
    removeMemberRole: (guild: Snowflake, user: Snowflake, role: Snowflake) =>
      rest.request<undefined>('DELETE', `/guilds/${id(guild)}/members/${id(user)}/roles/${id(role)}`),

    kick: (guild: Snowflake, user: Snowflake) => rest.request<undefined>('DELETE', `/guilds/${id(guild)}/members/${id(user)}`),
    ban: (guild: Snowflake, user: Snowflake) => rest.request<undefined>('PUT', `/guilds/${id(guild)}/bans/${id(user)}`, {}),
    unban: (guild: Snowflake, user: Snowflake) => rest.request<undefined>('DELETE', `/guilds/${id(guild)}/bans/${id(user)}`),
    bans: (guild: Snowflake) => rest.request<Ban[]>('GET', `/guilds/${id(guild)}/bans`),

    /** Newest first, as Discord answers; `before` pages back in time. */
    messages: (channel: Snowflake, before?: Snowflake) => {
      const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
      if (before !== undefined) query.set('before', before);
      return rest.request<Message[]>('GET', `/channels/${id(channel)}/messages?${query.toString()}`);
    },
    /** Joins a voice channel: the media token and where the SFU takes the offer. */
    joinVoice: (channel: Snowflake, selfMute: boolean) =>
      rest.request<{ token: string; endpoint: string }>('POST', `/channels/${id(channel)}/voice`, {
        self_mute: selfMute,
        self_deaf: false,
      }),
    leaveVoice: (channel: Snowflake) => rest.request<undefined>('DELETE', `/channels/${id(channel)}/voice`),

    /** Web Push (see push/subscription.ts). */
    vapidPublicKey: () => rest.request<{ public_key: string }>('GET', '/push/vapid-public-key'),
    putPushSubscription: (subscription: PushSubscriptionJSON) =>
      rest.request<undefined>('PUT', '/users/@me/push-subscriptions', subscription),
    deletePushSubscription: (endpoint: string) =>
      rest.request<undefined>('DELETE', '/users/@me/push-subscriptions', { endpoint }),

    /** With `files`, Discord's way: `payload_json` beside `files[n]`, each named in
     * the payload's `attachments` by its index. */
    sendMessage: (channel: Snowflake, content: string, nonce: string, replyTo?: Snowflake, files: readonly File[] = []) => {
      const payload = {
        content,
        // The nonce makes a retried send (a timeout, a reconnect) create one message.
        nonce,
        enforce_nonce: true,
        ...(replyTo === undefined ? {} : { message_reference: { message_id: replyTo } }),
      };
      const path = `/channels/${id(channel)}/messages`;
      if (files.length === 0) return rest.request<Message>('POST', path, payload);
      const form = new FormData();
      const attachments = files.map((file, index) => ({ id: index, filename: file.name }));
      form.append('payload_json', JSON.stringify({ ...payload, attachments }));
      files.forEach((file, index) => {
        form.append(`files[${index}]`, file, file.name);
      });
      return rest.request<Message>('POST', path, form);
    },
    editMessage: (channel: Snowflake, message: Snowflake, content: string) =>
      rest.request<Message>('PATCH', `/channels/${id(channel)}/messages/${id(message)}`, { content }),
    deleteMessage: (channel: Snowflake, message: Snowflake) =>
      rest.request<undefined>('DELETE', `/channels/${id(channel)}/messages/${id(message)}`),
    addReaction: (channel: Snowflake, message: Snowflake, emoji: string) =>
      rest.request<undefined>('PUT', `/channels/${id(channel)}/messages/${id(message)}/reactions/${id(emoji)}/@me`),
    removeReaction: (channel: Snowflake, message: Snowflake, emoji: string) =>
      rest.request<undefined>(
        'DELETE',
        `/channels/${id(channel)}/messages/${id(message)}/reactions/${id(emoji)}/@me`,
      ),
    /** The channel's pinned messages, most recently pinned first. */
    pins: (channel: Snowflake) => rest.request<Message[]>('GET', `/channels/${id(channel)}/pins`),
    pin: (channel: Snowflake, message: Snowflake) =>
      rest.request<undefined>('PUT', `/channels/${id(channel)}/pins/${id(message)}`),
    unpin: (channel: Snowflake, message: Snowflake) =>
      rest.request<undefined>('DELETE', `/channels/${id(channel)}/pins/${id(message)}`),
    typing: (channel: Snowflake) => rest.request<undefined>('POST', `/channels/${id(channel)}/typing`),
    /** The user has read `channel` up to `message` (the server's read state). */
    ack: (channel: Snowflake, message: Snowflake) =>
      rest.request<{ token: null }>('POST', `/channels/${id(channel)}/messages/${id(message)}/ack`, { token: null }),

    /** Opens (or finds) the DM channel with `recipient`. */
    /** A friend request by username. */
    requestFriend: (username: string) => rest.request<undefined>('POST', '/users/@me/relationships', { username }),
    /** Accepts their request (or sends one); `block` blocks them instead. */
    putRelationship: (user: Snowflake, block = false) =>
      rest.request<undefined>('PUT', `/users/@me/relationships/${id(user)}`, { type: block ? 2 : 1 }),
    /** Declines, cancels, unfriends or unblocks. */
    removeRelationship: (user: Snowflake) => rest.request<undefined>('DELETE', `/users/@me/relationships/${id(user)}`),

    openDm: (recipient: Snowflake) => rest.request<Channel>('POST', '/users/@me/channels', { recipient_id: recipient }),

    user: (user: Snowflake) => rest.request<User>('GET', `/users/${id(user)}`),
    /** The user's guilds, with their permissions in each (up to 200, Discord's page). */
    myGuilds: () => rest.request<MyGuild[]>('GET', '/users/@me/guilds'),
    /** Adds the bot of `application` to `guild` with a role holding `permissions`
     * (Discord's bot authorization); answers where the browser goes next. */
    authorizeBot: (application: Snowflake, guild: Snowflake, permissions: string) =>
      rest.request<{ location: string }>(
        'POST',
        `/oauth2/authorize?${new URLSearchParams({ client_id: application, scope: 'bot' }).toString()}`,
        { guild_id: guild, permissions, authorize: true },
      ),

    /** The user's signed-in sessions (devices), most recently used first. */
    sessions: () => rest.request<{ user_sessions: UserSession[] }>('GET', '/auth/sessions'),
    /** Ends those of the user's sessions. */
    endSessions: (idHashes: string[]) =>
      rest.request<undefined>('POST', '/auth/sessions/logout', { session_id_hashes: idHashes }),
  };
}

export type Endpoints = ReturnType<typeof endpoints>;
