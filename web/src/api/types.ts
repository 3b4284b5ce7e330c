// The Discord API v10 objects the client reads, limited to the fields it uses.
// Snowflakes are strings, as on the wire.

export type Snowflake = string;

export interface User {
  id: Snowflake;
  username: string;
  global_name?: string | null;
  avatar?: string | null;
  bot?: boolean;
}

export interface Guild {
  id: Snowflake;
  name: string;
  icon?: string | null;
  owner_id?: Snowflake;
}

/** A guild as `GET /users/@me/guilds` lists it: with the user's place in it. */
export interface MyGuild extends Guild {
  owner: boolean;
  /** The user's guild-level permissions, as a decimal string. */
  permissions: string;
}

export interface Role {
  id: Snowflake;
  name: string;
  color?: number;
  /** The permission bits, as a decimal string. */
  permissions: string;
  position: number;
  hoist?: boolean;
  mentionable?: boolean;
  managed?: boolean;
}

export const ChannelType = {
  GuildText: 0,
  DM: 1,
  GuildVoice: 2,
  GuildCategory: 4,
} as const;

/** A channel's permission overwrite for a role (`type` 0) or a member (1); the
 * bits are decimal strings. */
export interface PermissionOverwrite {
  id: Snowflake;
  type: 0 | 1;
  allow: string;
  deny: string;
}

export interface Channel {
  id: Snowflake;
  type: number;
  guild_id?: Snowflake;
  name?: string;
  position?: number;
  parent_id?: Snowflake | null;
  topic?: string | null;
  /** A DM's other people. */
  recipients?: User[];
  last_message_id?: Snowflake | null;
  permission_overwrites?: PermissionOverwrite[];
}

export interface Member {
  user: User;
  nick?: string | null;
  roles?: Snowflake[];
  joined_at?: string;
}

export type Status = 'online' | 'idle' | 'dnd' | 'offline';
/** What a user may choose; `invisible` looks `offline` to others. */
export type ChosenStatus = Exclude<Status, 'offline'> | 'invisible';

export interface Presence {
  user: { id: Snowflake };
  status: Status;
  guild_id?: Snowflake;
}

export interface Emoji {
  id: Snowflake | null;
  name: string | null;
}

export interface Reaction {
  emoji: Emoji;
  count: number;
  me: boolean;
}

export interface MessageReference {
  message_id?: Snowflake;
  channel_id?: Snowflake;
  guild_id?: Snowflake;
}

/** A file sent with a message; `url` is signed and expires (refetch the message). */
export interface Attachment {
  id: Snowflake;
  filename: string;
  size: number;
  url: string;
  proxy_url?: string;
  /** As the server sniffed it from the bytes. */
  content_type?: string;
  /** Images' (and videos') dimensions, so they take their place before they load. */
  width?: number | null;
  height?: number | null;
  description?: string | null;
}

export interface Message {
  id: Snowflake;
  channel_id: Snowflake;
  guild_id?: Snowflake;
  author: User;
  content: string;
  timestamp: string;
  edited_timestamp: string | null;
  reactions?: Reaction[];
  message_reference?: MessageReference;
  nonce?: string | number;
  /** Users the server found mentioned (a reply mentions the replied-to author). */
  mentions?: User[];
  mention_roles?: Snowflake[];
  mention_everyone?: boolean;
  pinned?: boolean;
  attachments?: Attachment[];
}

/** Discord's relationship types. */
export const RelationshipType = { Friend: 1, Blocked: 2, Incoming: 3, Outgoing: 4 } as const;

/** A friend, a block, or a pending friend request (`GET /users/@me/relationships`). */
export interface Relationship {
  id: Snowflake;
  type: (typeof RelationshipType)[keyof typeof RelationshipType];
  user?: User | null;
  nickname?: string | null;
}

export interface Invite {
  code: string;
  guild?: Guild;
  channel?: Channel;
  inviter?: User;
  uses?: number;
  max_uses?: number;
  expires_at?: string | null;
}

export interface Ban {
  user: User;
  reason: string | null;
}

/** GUILD_CREATE's `d`: a guild with what the session may see of it. */
/** Who is in which voice channel (GUILD_CREATE's `voice_states`, without
 * `guild_id`; VOICE_STATE_UPDATE's `d`, with it). `channel_id: null` has left. */
export interface VoiceState {
  user_id: Snowflake;
  channel_id: Snowflake | null;
  guild_id?: Snowflake;
  self_mute: boolean;
  self_deaf: boolean;
  mute: boolean;
  deaf: boolean;
}

export interface GuildCreate extends Guild {
  roles?: Role[];
  channels?: Channel[];
  members?: Member[];
  presences?: Presence[];
  voice_states?: VoiceState[];
  unavailable?: boolean;
}

/** One of the user's sessions, as `GET /auth/sessions` lists it. */
export interface UserSession {
  id_hash: string;
  approx_last_used_time: string | null;
  created_at?: string | null;
  client_info: { client_id: string; user_agent: string | null; scopes: string };
  current: boolean;
}
