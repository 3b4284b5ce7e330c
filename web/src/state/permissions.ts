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

/** The toggles a role editor shows, in the order it shows them. */
export const ROLE_TOGGLES: readonly { bit: bigint; label: string; hint: string }[] = [
  { bit: Permission.Administrator, label: 'Administrator', hint: 'Every permission, and every channel.' },
  { bit: Permission.ManageGuild, label: 'Manage Server', hint: 'Change the server’s name.' },
  { bit: Permission.ManageRoles, label: 'Manage Roles', hint: 'Create and edit roles below their own.' },
  { bit: Permission.ManageChannels, label: 'Manage Channels', hint: 'Create, edit and delete channels.' },
  { bit: Permission.KickMembers, label: 'Kick Members', hint: 'Remove members; they can rejoin with an invite.' },
  { bit: Permission.BanMembers, label: 'Ban Members', hint: 'Remove members for good.' },
  { bit: Permission.CreateInvite, label: 'Create Invite', hint: 'Invite people to the server.' },
  { bit: Permission.ViewChannel, label: 'View Channels', hint: 'See channels and read messages.' },
  { bit: Permission.SendMessages, label: 'Send Messages', hint: 'Write in text channels.' },
  { bit: Permission.ManageMessages, label: 'Manage Messages', hint: 'Delete and pin others’ messages.' },
  { bit: Permission.ReadMessageHistory, label: 'Read Message History', hint: 'Read what was said before.' },
  { bit: Permission.AddReactions, label: 'Add Reactions', hint: 'React to messages.' },
  { bit: Permission.MentionEveryone, label: 'Mention @everyone', hint: 'Notify the whole server.' },
  { bit: Permission.Connect, label: 'Connect', hint: 'Join voice channels.' },
  { bit: Permission.Speak, label: 'Speak', hint: 'Talk in voice channels.' },
];

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

/** The guild's roles, highest first, @everyone last (as Discord lists them). */
export function rolesByPosition(roles: Record<Snowflake, Role> | undefined, guildId: Snowflake): Role[] {
  return Object.values(roles ?? {}).sort(
    (a, b) => Number(a.id === guildId) - Number(b.id === guildId) || b.position - a.position || a.id.localeCompare(b.id),
  );
}
