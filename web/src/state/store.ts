// The client's state and the pure functions that change it. Everything the UI shows
// about guilds, channels, members, presence, typing and messages is here; the
// gateway's dispatches and REST answers are applied through `reduce`, never by
// components. A message is known by its id, so the same message from a REST answer,
// a live MESSAGE_CREATE and a resumed session's replay is stored once.

import {
  ChannelType,
  type Channel,
  type ChosenStatus,
  type Emoji,
  type Guild,
  type GuildCreate,
  type Member,
  type Message,
  type Presence,
  type Relationship,
  type Role,
  type Snowflake,
  type Status,
  type User,
  type VoiceState,
} from '../api/types';
import type { CallStatus } from '../voice/connection';
import {
  addNotification,
  markRead,
  notificationKind,
  removeNotification,
  updateNotification,
  type InboxItem,
} from './notifications';
import { addMention, readStatesFromReady, readUpTo, type ReadStates } from './readStates';
import { compareIds } from './snowflake';
import {
  addUnread,
  readChannel,
  removeUnread,
  withoutChannels,
  type NewMessagesDivider,
  type UnreadMessages,
} from './unread';

/** How long a TYPING_START shows (Discord: about 10 s, unless a message comes first). */
export const TYPING_MS = 10_000;

export interface ChannelMessages {
  /** Oldest first. */
  ids: Snowflake[];
  byId: Record<Snowflake, Message>;
  /** Whether older messages may exist on the server. */
  hasMore: boolean;
  /** Deleted ids, so a late history page cannot bring them back. */
  deleted: Record<Snowflake, true>;
}

export interface State {
  me: User | null;
  myStatus: ChosenStatus;
  /** Ids of the user's guilds in READY order, then joins. */
  guildIds: Snowflake[];
  /** Guilds whose GUILD_CREATE arrived (an id in `guildIds` without one is loading). */
  guilds: Record<Snowflake, Guild>;
  channels: Record<Snowflake, Channel>;
  /** guild → role id → role (the @everyone role's id is the guild's). */
  roles: Record<Snowflake, Record<Snowflake, Role>>;
  members: Record<Snowflake, Record<Snowflake, Member>>;
  presences: Record<Snowflake, Status>;
  messages: Record<Snowflake, ChannelMessages>;
  /** channel → user → when the indicator expires (ms). */
  typing: Record<Snowflake, Record<Snowflake, number>>;
  /** READY arrived at least once (until then, membership is unknown). */
  ready: boolean;
  /** Mentions of and replies to the user, newest first (see notifications.ts). */
  notifications: InboxItem[];
  /** The channel the user is looking at (open, and the page visible), if any. */
  viewing: Snowflake | null;
  /** Messages that arrived where the user was not looking (see unread.ts). */
  unread: UnreadMessages;
  /** Where the open channel's "new messages" divider goes, if anywhere. */
  newMessages: NewMessagesDivider | null;
  /** What the user has read where, and their unread mentions (see readStates.ts). */
  readStates: ReadStates;
  /** channel → its pinned messages, most recently pinned first, as last loaded and
   * changed by this client since. */
  pins: Record<Snowflake, Message[]>;
  /** The voice channel the user chose (the voice panel shows it), if any. */
  voiceChannel: Snowflake | null;
  /** guild → user → their voice state (only those in a channel). */
  voiceStates: Record<Snowflake, Record<Snowflake, VoiceState>>;
  /** This client's call, if it is in one. */
  call: Call | null;
  /** Friends, blocks and requests, as last loaded (`null`: not yet). */
  relationships: Relationship[] | null;
  /** The user panel's microphone and sound switches, for this call and the next. */
  muted: boolean;
  deafened: boolean;
}

/** This client's voice call. */
export interface Call {
  channelId: Snowflake;
  /** `joining`: asking the server for a media token. */
  status: CallStatus | 'joining';
  /** What went wrong, or works less than fully. */
  problem: string | null;
  /** The camera's stream while it is on (the self view). */
  camera: MediaStream | null;
  /** The others' media by user: their audio and, while on, their camera. */
  streams: Record<Snowflake, MediaStream>;
  /** Who is speaking now (the SFU's notices). */
  speaking: Record<Snowflake, true>;
}

/** A call as it starts. */
export function newCall(channelId: Snowflake): Call {
  return { channelId, status: 'joining', problem: null, camera: null, streams: {}, speaking: {} };
}

export const initialState: State = {
  me: null,
  myStatus: 'online',
  guildIds: [],
  guilds: {},
  channels: {},
  roles: {},
  members: {},
  presences: {},
  messages: {},
  typing: {},
  ready: false,
  notifications: [],
  viewing: null,
  unread: {},
  newMessages: null,
  readStates: {},
  pins: {},
  voiceChannel: null,
  voiceStates: {},
  call: null,
  relationships: null,
  muted: false,
  deafened: false,
};

export type Action =
  | { type: 'dispatch'; event: string; data: unknown; now: number }
  /** A page of history, newest first as the API answers; `requested` is the page size. */
  | { type: 'history'; channelId: Snowflake; messages: Message[]; requested: number }
  /** A message this client wrote (the REST answer), before or after its dispatch. */
  | { type: 'message'; message: Message }
  | { type: 'status'; status: ChosenStatus }
  | { type: 'typing-expired'; now: number }
  /** The user looks at `channelId` (or at none): its notifications are read. */
  | { type: 'viewing'; channelId: Snowflake | null }
  | { type: 'read-all' }
  /** The channel's pinned messages, as `GET /channels/{id}/pins` answers. */
  | { type: 'pins'; channelId: Snowflake; messages: Message[] }
  /** This client pinned or unpinned a message. */
  | { type: 'pinned'; channelId: Snowflake; messageId: Snowflake; pinned: boolean }
  | { type: 'voice'; channelId: Snowflake | null }
  /** The call starts (`channelId`), ends (`null`), or changes. */
  | { type: 'call'; call: Call | null }
  | { type: 'call-status'; status: Call['status']; problem: string | null }
  | { type: 'call-changed'; changes: Partial<Pick<Call, 'camera' | 'streams'>> }
  | { type: 'sound'; muted: boolean; deafened: boolean }
  | { type: 'speaking'; userId: Snowflake; speaking: boolean };

export function reduce(state: State, action: Action): State {
  switch (action.type) {
    case 'dispatch':
      return applyDispatch(state, action.event, action.data, action.now);
    case 'history':
      return applyHistory(state, action.channelId, action.messages, action.requested);
    case 'message': {
      // Writing in a channel reads it: its divider goes.
      const { channel_id: channelId, id } = action.message;
      const next = { ...upsertMessage(state, action.message), readStates: readUpTo(state.readStates, channelId, id) };
      return next.newMessages?.channelId === channelId ? { ...next, newMessages: null } : next;
    }
    case 'status':
      return { ...state, myStatus: action.status };
    case 'typing-expired':
      return expireTyping(state, action.now);
    case 'viewing': {
      if (action.channelId === null) return { ...state, viewing: null };
      const { unread, divider } = readChannel(state.unread, state.newMessages, action.channelId);
      return {
        ...state,
        viewing: action.channelId,
        notifications: markRead(state.notifications, action.channelId),
        unread,
        newMessages: divider,
        readStates: readUpTo(state.readStates, action.channelId, newestKnown(state, action.channelId)),
      };
    }
    case 'read-all': {
      // The badges go with the list's marks (until a fresh READY brings the server's
      // counts again: only looking at a channel acks it).
      const readStates = Object.fromEntries(
        Object.entries(state.readStates).map(([channelId, known]) => [channelId, { ...known, mentions: 0 }]),
      );
      return { ...state, notifications: markRead(state.notifications, null), readStates };
    }
    case 'pins':
      return applyPins(state, action.channelId, action.messages);
    case 'pinned': {
      const next = setPinned(state, action.channelId, new Set([action.messageId]), action.pinned ? 'add' : 'remove');
      const message = next.messages[action.channelId]?.byId[action.messageId];
      const pins = action.pinned
        ? changePins(next.pins, action.channelId, (pinned) => (message === undefined ? pinned : [message, ...pinned]))
        : withoutPin(next.pins, action.channelId, action.messageId);
      return { ...next, pins };
    }
    case 'voice':
      return { ...state, voiceChannel: action.channelId };
    case 'call':
      return { ...state, call: action.call };
    case 'call-status':
      return state.call === null ? state : { ...state, call: { ...state.call, status: action.status, problem: action.problem } };
    case 'sound':
      return { ...state, muted: action.muted, deafened: action.deafened };
    case 'call-changed':
      return state.call === null ? state : { ...state, call: { ...state.call, ...action.changes } };
    case 'speaking': {
      if (state.call === null) return state;
      const speaking = action.speaking ? { ...state.call.speaking, [action.userId]: true as const } : omit(state.call.speaking, action.userId);
      return { ...state, call: { ...state.call, speaking } };
    }
  }
}

/** The newest message of `channelId` this client knows of: the channel's
 * `last_message_id` or a newer loaded one. */
function newestKnown(state: State, channelId: Snowflake): Snowflake | undefined {
  const loaded = state.messages[channelId]?.ids.at(-1);
  const last = state.channels[channelId]?.last_message_id ?? undefined;
  if (loaded === undefined || last === undefined) return loaded ?? last;
  return compareIds(loaded, last) >= 0 ? loaded : last;
}

/** A live message that mentions or replies to the user joins the notifications,
 * and counts as an unread mention of its channel unless the user is looking. */
function notice(state: State, message: Message): State {
  const guildId = message.guild_id ?? state.channels[message.channel_id]?.guild_id;
  const myRoles = guildId === undefined || state.me === null ? [] : (state.members[guildId]?.[state.me.id]?.roles ?? []);
  const reference = message.message_reference?.message_id;
  const repliedTo = reference === undefined ? undefined : state.messages[message.channel_id]?.byId[reference];
  const direct = guildId === undefined && state.channels[message.channel_id]?.type === ChannelType.DM;
  const kind = notificationKind(message, state.me, myRoles, repliedTo, direct);
  if (kind === null) return state;
  const located = guildId === undefined ? message : { ...message, guild_id: guildId };
  const notifications = addNotification(state.notifications, kind, located, state.viewing);
  if (notifications === state.notifications) return state;
  const unread = notifications[0]?.read === false;
  return { ...state, notifications, readStates: unread ? addMention(state.readStates, message.channel_id) : state.readStates };
}

/** The loaded pins, and the loaded messages' `pinned` flags to match. */
function applyPins(state: State, channelId: Snowflake, pinned: Message[]): State {
  const next = { ...state, pins: { ...state.pins, [channelId]: pinned } };
  return setPinned(next, channelId, new Set(pinned.map((message) => message.id)), 'exactly');
}

/** Sets the `pinned` flag of the loaded messages of `channelId` in `ids` (`add`,
 * `remove`), or of exactly those (`exactly`: the others are not pinned). */
function setPinned(state: State, channelId: Snowflake, ids: Set<Snowflake>, mode: 'add' | 'remove' | 'exactly'): State {
  const channel = state.messages[channelId];
  if (channel === undefined) return state;
  const byId = { ...channel.byId };
  let changed = false;
  for (const [id, message] of Object.entries(channel.byId)) {
    if (mode !== 'exactly' && !ids.has(id)) continue;
    const pinned = mode === 'remove' ? false : ids.has(id);
    if ((message.pinned ?? false) === pinned) continue;
    byId[id] = { ...message, pinned };
    changed = true;
  }
  return changed ? { ...state, messages: { ...state.messages, [channelId]: { ...channel, byId } } } : state;
}

/** A live message from someone else, where the user is not looking, is unread. */
function countUnread(state: State, message: Message): State {
  if (message.author.id === state.me?.id || message.channel_id === state.viewing) return state;
  const unread = addUnread(state.unread, message);
  return unread === state.unread ? state : { ...state, unread };
}

/** The channel's `last_message_id` follows its messages. */
function withLastMessage(state: State, message: Message): State {
  const channel = state.channels[message.channel_id];
  if (channel === undefined || (channel.last_message_id != null && compareIds(channel.last_message_id, message.id) >= 0)) return state;
  return { ...state, channels: { ...state.channels, [channel.id]: { ...channel, last_message_id: message.id } } };
}

/** `record` without `key` (a copy; the store never mutates). */
function omit<T>(record: Record<string, T>, key: string): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter(([known]) => known !== key));
}

function emptyChannel(): ChannelMessages {
  return { ids: [], byId: {}, hasMore: true, deleted: {} };
}

function channelMessages(state: State, channelId: Snowflake): ChannelMessages {
  return state.messages[channelId] ?? emptyChannel();
}

/** Inserts `id` into the ascending `ids`, keeping them unique. */
function insertId(ids: Snowflake[], id: Snowflake): Snowflake[] {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const at = ids[mid] as Snowflake;
    const order = compareIds(at, id);
    if (order === 0) return ids;
    if (order < 0) low = mid + 1;
    else high = mid;
  }
  return [...ids.slice(0, low), id, ...ids.slice(low)];
}

/** The newer of two versions of one message (an edit beats the original). */
function newer(known: Message | undefined, incoming: Message): Message {
  if (known === undefined) return incoming;
  const knownEdit = known.edited_timestamp ?? '';
  const incomingEdit = incoming.edited_timestamp ?? '';
  // Reactions change without an edit; take the incoming ones unless it is older.
  return incomingEdit >= knownEdit ? { ...known, ...incoming } : known;
}

function upsertMessage(state: State, message: Message): State {
  const channel = channelMessages(state, message.channel_id);
  if (channel.deleted[message.id]) return state;
  const known = channel.byId[message.id];
  const merged = newer(known, message);
  if (merged === known) return state;
  const typing = withoutTyping(state.typing, message.channel_id, message.author.id);
  return {
    ...state,
    typing,
    messages: {
      ...state.messages,
      [message.channel_id]: {
        ...channel,
        ids: known === undefined ? insertId(channel.ids, message.id) : channel.ids,
        byId: { ...channel.byId, [message.id]: merged },
      },
    },
  };
}

function applyHistory(state: State, channelId: Snowflake, page: Message[], requested: number): State {
  let next = state;
  for (const message of page) next = upsertMessage(next, message);
  const channel = channelMessages(next, channelId);
  // A short page reached the beginning of the channel.
  const hasMore = page.length >= requested;
  return { ...next, messages: { ...next.messages, [channelId]: { ...channel, hasMore } } };
}

function removeMessage(state: State, channelId: Snowflake, id: Snowflake): State {
  const channel = channelMessages(state, channelId);
  const byId = omit(channel.byId, id);
  return {
    ...state,
    notifications: removeNotification(state.notifications, id),
    unread: removeUnread(state.unread, channelId, id),
    pins: withoutPin(state.pins, channelId, id),
    messages: {
      ...state.messages,
      [channelId]: {
        ...channel,
        ids: channel.ids.filter((known) => known !== id),
        byId,
        deleted: { ...channel.deleted, [id]: true },
      },
    },
  };
}

/** `pins` with the loaded pins of `channelId` changed by `change`, if loaded. */
function changePins(
  pins: State['pins'],
  channelId: Snowflake,
  change: (pinned: Message[]) => Message[],
): State['pins'] {
  const pinned = pins[channelId];
  return pinned === undefined ? pins : { ...pins, [channelId]: change(pinned) };
}

/** `pins` without message `messageId` of `channelId`. */
function withoutPin(pins: State['pins'], channelId: Snowflake, messageId: Snowflake): State['pins'] {
  return changePins(pins, channelId, (pinned) => pinned.filter((known) => known.id !== messageId));
}

function sameEmoji(a: Emoji, b: Emoji): boolean {
  return a.id !== null || b.id !== null ? a.id === b.id : a.name === b.name;
}

interface ReactionEvent {
  user_id: Snowflake;
  channel_id: Snowflake;
  message_id: Snowflake;
  emoji: Emoji;
}

function applyReaction(state: State, event: ReactionEvent, delta: 1 | -1): State {
  const channel = state.messages[event.channel_id];
  const message = channel?.byId[event.message_id];
  if (channel === undefined || message === undefined) return state;
  const mine = event.user_id === state.me?.id;
  const reactions = [...(message.reactions ?? [])];
  const index = reactions.findIndex((reaction) => sameEmoji(reaction.emoji, event.emoji));
  const current = index >= 0 ? reactions[index] : undefined;
  if (current === undefined) {
    if (delta < 0) return state;
    reactions.push({ emoji: event.emoji, count: 1, me: mine });
  } else {
    const count = current.count + delta;
    const updated = { ...current, count, me: mine ? delta > 0 : current.me };
    if (count <= 0) reactions.splice(index, 1);
    else reactions[index] = updated;
  }
  return {
    ...state,
    messages: {
      ...state.messages,
      [event.channel_id]: { ...channel, byId: { ...channel.byId, [message.id]: { ...message, reactions } } },
    },
  };
}

function withoutTyping(
  typing: State['typing'],
  channelId: Snowflake,
  userId: Snowflake,
): State['typing'] {
  const channel = typing[channelId];
  if (channel?.[userId] === undefined) return typing;
  return { ...typing, [channelId]: omit(channel, userId) };
}

function expireTyping(state: State, now: number): State {
  let changed = false;
  const typing: State['typing'] = {};
  for (const [channelId, users] of Object.entries(state.typing)) {
    const live: Record<Snowflake, number> = {};
    for (const [userId, until] of Object.entries(users)) {
      if (until > now) live[userId] = until;
      else changed = true;
    }
    typing[channelId] = live;
  }
  return changed ? { ...state, typing } : state;
}

function applyGuildCreate(state: State, guild: GuildCreate): State {
  const { channels = [], members = [], presences = [], roles = [], voice_states: voiceStates = [], ...rest } = guild;
  // A repeated GUILD_CREATE (after a fresh READY) replaces what the guild had.
  const channelMap = withoutGuild(state.channels, guild.id);
  for (const channel of channels) channelMap[channel.id] = { ...channel, guild_id: guild.id };
  const memberMap: Record<Snowflake, Member> = {};
  for (const member of members) memberMap[member.user.id] = member;
  const presenceMap = { ...state.presences };
  for (const presence of presences) presenceMap[presence.user.id] = presence.status;
  return {
    ...state,
    guildIds: state.guildIds.includes(guild.id) ? state.guildIds : [...state.guildIds, guild.id],
    guilds: { ...state.guilds, [guild.id]: rest },
    channels: channelMap,
    roles: { ...state.roles, [guild.id]: Object.fromEntries(roles.map((role) => [role.id, role])) },
    members: { ...state.members, [guild.id]: memberMap },
    presences: presenceMap,
    voiceStates: {
      ...state.voiceStates,
      [guild.id]: Object.fromEntries(voiceStates.filter((known) => known.channel_id !== null).map((known) => [known.user_id, known])),
    },
  };
}

function withoutGuild(channels: State['channels'], guildId: Snowflake): State['channels'] {
  return Object.fromEntries(Object.entries(channels).filter(([, channel]) => channel.guild_id !== guildId));
}

function removeGuild(state: State, guildId: Snowflake): State {
  return {
    ...state,
    unread: withoutChannels(state.unread, (channelId) => state.channels[channelId]?.guild_id === guildId),
    guildIds: state.guildIds.filter((id) => id !== guildId),
    guilds: omit(state.guilds, guildId),
    roles: omit(state.roles, guildId),
    members: omit(state.members, guildId),
    voiceStates: omit(state.voiceStates, guildId),
    channels: withoutGuild(state.channels, guildId),
  };
}

function setMember(state: State, guildId: Snowflake, member: Member): State {
  return {
    ...state,
    members: { ...state.members, [guildId]: { ...state.members[guildId], [member.user.id]: member } },
  };
}

interface Ready {
  user: User;
  guilds: { id: Snowflake }[];
  private_channels?: Channel[];
  read_state?: unknown;
  relationships?: Relationship[];
}

function applyDispatch(state: State, event: string, data: unknown, now: number): State {
  switch (event) {
    case 'READY': {
      const ready = data as Ready;
      // A fresh session (first, or after the old one could not be resumed): guilds
      // come again, one GUILD_CREATE each. What was missed in between was not
      // replayed, so cached history may have gaps: it is dropped, and the open
      // channel loads again (a resumed session keeps everything).
      return {
        ...initialState,
        myStatus: state.myStatus,
        // What the user was told about stays, read or not, and so does where they look.
        notifications: state.notifications,
        viewing: state.viewing,
        unread: state.unread,
        newMessages: state.newMessages,
        // The server's counts replace this client's: they include what it counted.
        readStates: readStatesFromReady(ready.read_state),
        voiceChannel: state.voiceChannel,
        call: state.call,
        muted: state.muted,
        deafened: state.deafened,
        me: ready.user,
        guildIds: ready.guilds.map((guild) => guild.id),
        channels: Object.fromEntries((ready.private_channels ?? []).map((channel) => [channel.id, channel])),
        relationships: ready.relationships ?? null,
        ready: true,
      };
    }
    case 'GUILD_CREATE':
      return applyGuildCreate(state, data as GuildCreate);
    case 'RELATIONSHIP_ADD': {
      // A new relationship, or one that changed type (a request accepted, a block).
      // Without a profile (the server could not read it) the one known stays.
      const added = data as Relationship;
      if (state.relationships === null) return state;
      const known = state.relationships.find((relationship) => relationship.id === added.id);
      const relationship = { ...added, user: added.user ?? known?.user ?? null };
      return {
        ...state,
        relationships: [...state.relationships.filter((other) => other.id !== added.id), relationship],
      };
    }
    case 'RELATIONSHIP_REMOVE': {
      // Only the relationship of the type removed: a block may already replace it.
      const removed = data as Pick<Relationship, 'id' | 'type'>;
      if (state.relationships === null) return state;
      return {
        ...state,
        relationships: state.relationships.filter(
          (relationship) => relationship.id !== removed.id || relationship.type !== removed.type,
        ),
      };
    }
    case 'GUILD_UPDATE': {
      const guild = data as Guild;
      return { ...state, guilds: { ...state.guilds, [guild.id]: { ...state.guilds[guild.id], ...guild } } };
    }
    case 'GUILD_DELETE':
      return removeGuild(state, (data as { id: Snowflake }).id);
    case 'CHANNEL_CREATE':
    case 'CHANNEL_UPDATE': {
      const channel = data as Channel;
      return { ...state, channels: { ...state.channels, [channel.id]: channel } };
    }
    case 'CHANNEL_DELETE': {
      const { id } = data as Channel;
      return { ...state, channels: omit(state.channels, id), unread: withoutChannels(state.unread, (known) => known === id) };
    }
    case 'GUILD_ROLE_CREATE':
    case 'GUILD_ROLE_UPDATE': {
      const { guild_id: guildId, role } = data as { guild_id: Snowflake; role: Role };
      return { ...state, roles: { ...state.roles, [guildId]: { ...state.roles[guildId], [role.id]: role } } };
    }
    case 'GUILD_ROLE_DELETE': {
      const { guild_id: guildId, role_id: roleId } = data as { guild_id: Snowflake; role_id: Snowflake };
      return { ...state, roles: { ...state.roles, [guildId]: omit(state.roles[guildId] ?? {}, roleId) } };
    }
    case 'GUILD_MEMBER_ADD':
    case 'GUILD_MEMBER_UPDATE': {
      const member = data as Member & { guild_id: Snowflake };
      return setMember(state, member.guild_id, member);
    }
    case 'GUILD_MEMBER_REMOVE': {
      const { guild_id: guildId, user } = data as { guild_id: Snowflake; user: User };
      return { ...state, members: { ...state.members, [guildId]: omit(state.members[guildId] ?? {}, user.id) } };
    }
    case 'PRESENCE_UPDATE': {
      const presence = data as Presence;
      return { ...state, presences: { ...state.presences, [presence.user.id]: presence.status } };
    }
    case 'MESSAGE_CREATE': {
      const message = data as Message;
      // Before storing it: a replay of a message already deleted here is no news.
      const channel = state.messages[message.channel_id];
      if (channel?.deleted[message.id] === true) return state;
      // A message this client already holds (its own send's answer) is no news either.
      const news = channel?.byId[message.id] === undefined;
      const next = notice(withLastMessage(upsertMessage(state, message), message), message);
      return news ? countUnread(next, message) : next;
    }
    case 'MESSAGE_ACK': {
      // The user read the channel on another device (or this one, echoed back).
      const { channel_id: channelId, message_id: messageId } = data as { channel_id: Snowflake; message_id: Snowflake };
      const known = state.unread[channelId] ?? [];
      const unreadIds = known.filter((id) => compareIds(id, messageId) > 0);
      // Unchanged when nothing newer was read, so the views that show it keep still.
      const unread =
        unreadIds.length === known.length
          ? state.unread
          : unreadIds.length > 0
            ? { ...state.unread, [channelId]: unreadIds }
            : withoutChannels(state.unread, (id) => id === channelId);
      return {
        ...state,
        readStates: readUpTo(state.readStates, channelId, messageId),
        unread,
        notifications: markRead(state.notifications, channelId),
      };
    }
    case 'MESSAGE_UPDATE': {
      const message = data as Message;
      let next = upsertMessage(state, message);
      if (state.pins[message.channel_id]?.some((known) => known.id === message.id) === true) {
        const edited = (pinned: Message[]) => pinned.map((known) => (known.id === message.id ? newer(known, message) : known));
        next = { ...next, pins: changePins(next.pins, message.channel_id, edited) };
      }
      const notifications = updateNotification(next.notifications, message);
      return notifications === next.notifications ? next : { ...next, notifications };
    }
    case 'MESSAGE_DELETE': {
      const { id, channel_id: channelId } = data as { id: Snowflake; channel_id: Snowflake };
      return removeMessage(state, channelId, id);
    }
    case 'MESSAGE_DELETE_BULK': {
      const { ids, channel_id: channelId } = data as { ids: Snowflake[]; channel_id: Snowflake };
      return ids.reduce((next, id) => removeMessage(next, channelId, id), state);
    }
    case 'MESSAGE_REACTION_ADD':
      return applyReaction(state, data as ReactionEvent, 1);
    case 'MESSAGE_REACTION_REMOVE':
      return applyReaction(state, data as ReactionEvent, -1);
    case 'VOICE_STATE_UPDATE': {
      const voice = data as VoiceState;
      if (voice.guild_id === undefined) return state;
      const guild = state.voiceStates[voice.guild_id] ?? {};
      const next = voice.channel_id === null ? omit(guild, voice.user_id) : { ...guild, [voice.user_id]: voice };
      return { ...state, voiceStates: { ...state.voiceStates, [voice.guild_id]: next } };
    }
    case 'TYPING_START': {
      const { channel_id: channelId, user_id: userId } = data as { channel_id: Snowflake; user_id: Snowflake };
      if (userId === state.me?.id) return state;
      return {
        ...state,
        typing: { ...state.typing, [channelId]: { ...state.typing[channelId], [userId]: now + TYPING_MS } },
      };
    }
    default:
      return state;
  }
}

/** A tiny external store for React's `useSyncExternalStore`. */
export interface Store {
  getState: () => State;
  dispatch: (action: Action) => void;
  subscribe: (listener: () => void) => () => void;
}

export function createStore(state: State = initialState): Store {
  let current = state;
  const listeners = new Set<() => void>();
  return {
    getState: () => current,
    dispatch(action) {
      const next = reduce(current, action);
      if (next === current) return;
      current = next;
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
