// Guild-level permissions, computed the way the server does (Discord's rules), only
// to decide what the interface offers: the server checks every request itself.
// Bits are BigInt (Discord's go past 2^31); roles carry them as decimal strings.

import type { Member, Role, Snowflake } from '../api/types';

export const Permission = {
  CreateInvite: 1n << 0n,
  KickMembers: 1n << 1n,
  BanMembers: 1n << 2n,
  Administrator: 1n << 3n,
  ManageChannels: 1n << 4n,
  ManageGuild: 1n << 5n,
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  ManageMessages: 1n << 13n,
  ReadMessageHistory: 1n << 16n,
  MentionEveryone: 1n << 17n,
  Connect: 1n << 20n,
  Speak: 1n << 21n,
  ManageRoles: 1n << 28n,
} as const;

/** Every bit, what an owner or administrator has. */
const ALL = (1n << 64n) - 1n;

/** Discord's names of the permission bits, by bit number (47 and 48 are unused). */
const PERMISSION_NAMES: Partial<Record<number, string>> = {
  0: 'Create Invite',
  1: 'Kick Members',
  2: 'Ban Members',
  3: 'Administrator',
  4: 'Manage Channels',
  5: 'Manage Server',
  6: 'Add Reactions',
  7: 'View Audit Log',
  8: 'Priority Speaker',
  9: 'Video',
  10: 'View Channels',
  11: 'Send Messages',
  12: 'Send Text-to-Speech Messages',
  13: 'Manage Messages',
  14: 'Embed Links',
  15: 'Attach Files',
  16: 'Read Message History',
  17: 'Mention @everyone',
  18: 'Use External Emoji',
  19: 'View Server Insights',
  20: 'Connect',
  21: 'Speak',
  22: 'Mute Members',
  23: 'Deafen Members',
  24: 'Move Members',
  25: 'Use Voice Activity',
  26: 'Change Nickname',
  27: 'Manage Nicknames',
  28: 'Manage Roles',
  29: 'Manage Webhooks',
  30: 'Manage Expressions',
  31: 'Use Application Commands',
  32: 'Request to Speak',
  33: 'Manage Events',
  34: 'Manage Threads',
  35: 'Create Public Threads',
  36: 'Create Private Threads',
  37: 'Use External Stickers',
  38: 'Send Messages in Threads',
  39: 'Use Activities',
  40: 'Timeout Members',
  41: 'View Creator Monetization Analytics',
  42: 'Use Soundboard',
  43: 'Create Expressions',
  44: 'Create Events',
  45: 'Use External Sounds',
  46: 'Send Voice Messages',
  49: 'Create Polls',
  50: 'Use External Apps',
};

/** The name of one permission bit (`1n << 11n` → "Send Messages"). */
export function permissionName(bit: bigint): string {
  const index = bit.toString(2).length - 1;
  return PERMISSION_NAMES[index] ?? `Unknown permission (bit ${index})`;
}

/** The names of the permissions a decimal bit set holds, lowest bit first. */
export function permissionNames(permissions: string): string[] {
  const value = bits(permissions);
  const names: string[] = [];
  for (let bit = 1n; bit <= value; bit <<= 1n) if ((value & bit) !== 0n) names.push(permissionName(bit));
  return names;
}

function toggle(bit: bigint, hint: string): { bit: bigint; label: string; hint: string } {
  return { bit, label: permissionName(bit), hint };
}

/** The toggles a role editor shows, in the order it shows them. */
export const ROLE_TOGGLES: readonly { bit: bigint; label: string; hint: string }[] = [
  toggle(Permission.Administrator, 'Every permission, and every channel.'),
  toggle(Permission.ManageGuild, 'Change the server’s name.'),
  toggle(Permission.ManageRoles, 'Create and edit roles below their own.'),
  toggle(Permission.ManageChannels, 'Create, edit and delete channels.'),
  toggle(Permission.KickMembers, 'Remove members; they can rejoin with an invite.'),
  toggle(Permission.BanMembers, 'Remove members for good.'),
  toggle(Permission.CreateInvite, 'Invite people to the server.'),
  toggle(Permission.ViewChannel, 'See channels and read messages.'),
  toggle(Permission.SendMessages, 'Write in text channels.'),
  toggle(Permission.ManageMessages, 'Delete and pin others’ messages.'),
  toggle(Permission.ReadMessageHistory, 'Read what was said before.'),
  toggle(Permission.AddReactions, 'React to messages.'),
  toggle(Permission.MentionEveryone, 'Notify the whole server.'),
  toggle(Permission.Connect, 'Join voice channels.'),
  toggle(Permission.Speak, 'Talk in voice channels.'),
];

/** What a channel's permission overwrites can allow or deny, in the order the
 * editor shows them (the rest are server-wide). */
export const CHANNEL_TOGGLES: readonly { bit: bigint; label: string; hint: string }[] = [
  toggle(Permission.ViewChannel, 'See the channel (and, in text, read it).'),
  toggle(Permission.SendMessages, 'Write in it.'),
  toggle(Permission.ReadMessageHistory, 'Read what was said before.'),
  toggle(Permission.AddReactions, 'React to messages.'),
  toggle(Permission.ManageMessages, 'Delete and pin others’ messages.'),
  toggle(Permission.MentionEveryone, 'Notify everyone who sees it.'),
  toggle(Permission.CreateInvite, 'Invite people to it.'),
  toggle(Permission.Connect, 'Join it, if it is a voice channel.'),
  toggle(Permission.Speak, 'Talk in it, if it is a voice channel.'),
];

/** How an overwrite treats one permission. */
export type OverwriteState = 'allow' | 'inherit' | 'deny';

export function overwriteState(overwrite: { allow: string; deny: string }, bit: bigint): OverwriteState {
  if (has(bits(overwrite.allow), bit)) return 'allow';
  return has(bits(overwrite.deny), bit) ? 'deny' : 'inherit';
}

/** `overwrite`'s bits with `bit` set to `state` (allowed, denied, or neither). */
export function withOverwriteState(
  overwrite: { allow: string; deny: string },
  bit: bigint,
  state: OverwriteState,
): { allow: string; deny: string } {
  return {
    allow: toggled(overwrite.allow, bit, state === 'allow'),
    deny: toggled(overwrite.deny, bit, state === 'deny'),
  };
}

export function bits(permissions: string | undefined): bigint {
  try {
    return BigInt(permissions ?? '0');
  } catch {
    return 0n;
  }
}

/** `permissions` with `bit` set or cleared, as the string the API takes. */
export function toggled(permissions: string, bit: bigint, on: boolean): string {
  const value = bits(permissions);
  return (on ? value | bit : value & ~bit).toString();
}

/** The guild-level permissions of `userId`: everything for the owner; otherwise the
 * @everyone role's (its id is the guild's) and their roles' together, everything
 * with Administrator. */
export function guildPermissions(
  guild: { id: Snowflake; owner_id?: Snowflake },
  roles: Record<Snowflake, Role> | undefined,
  member: Member | undefined,
  userId: Snowflake,
): bigint {
  if (guild.owner_id === userId) return ALL;
  let value = bits(roles?.[guild.id]?.permissions);
  for (const roleId of member?.roles ?? []) value |= bits(roles?.[roleId]?.permissions);
  return (value & Permission.Administrator) !== 0n ? ALL : value;
}

export function has(permissions: bigint, bit: bigint): boolean {
  return (permissions & bit) === bit;
}

/** Whether the user may add a bot to a guild of `GET /users/@me/guilds`: its owner,
 * or with Administrator or Manage Server there (Discord's rule). */
export function canAddBots(guild: { owner: boolean; permissions: string }): boolean {
  const value = bits(guild.permissions);
  return guild.owner || has(value, Permission.Administrator) || has(value, Permission.ManageGuild);
}

/** The guild's roles, highest first, @everyone last (as Discord lists them). */
export function rolesByPosition(roles: Record<Snowflake, Role> | undefined, guildId: Snowflake): Role[] {
  return Object.values(roles ?? {}).sort(
    (a, b) => Number(a.id === guildId) - Number(b.id === guildId) || b.position - a.position || a.id.localeCompare(b.id),
  );
}
