import { describe, expect, it } from 'vitest';

import type { Role } from '../api/types';
import { canAddBots, guildPermissions, has, overwriteState, Permission, permissionNames, ROLE_TOGGLES, rolesByPosition, toggled, withOverwriteState } from './permissions';

const role = (id: string, permissions: bigint, position = 1): Role => ({ id, name: id, permissions: permissions.toString(), position });
const guild = { id: '10', owner_id: '1' };
const roles = {
  '10': role('10', Permission.ViewChannel | Permission.SendMessages, 0),
  '20': role('20', Permission.KickMembers, 2),
  '30': role('30', Permission.Administrator, 3),
};

describe('permissions', () => {
  it('gives the owner everything', () => {
    expect(has(guildPermissions(guild, roles, undefined, '1'), Permission.BanMembers)).toBe(true);
  });

  it('adds the member’s roles to @everyone’s', () => {
    const member = { user: { id: '2', username: 'b' }, roles: ['20'] };
    const value = guildPermissions(guild, roles, member, '2');
    expect(has(value, Permission.KickMembers)).toBe(true);
    expect(has(value, Permission.SendMessages)).toBe(true);
    expect(has(value, Permission.BanMembers)).toBe(false);
  });

  it('gives an administrator everything', () => {
    const member = { user: { id: '3', username: 'c' }, roles: ['30'] };
    expect(has(guildPermissions(guild, roles, member, '3'), Permission.ManageRoles)).toBe(true);
  });

  it('toggles one bit, beyond 32 bits too', () => {
    expect(toggled('0', Permission.KickMembers, true)).toBe('2');
    expect(toggled('3', Permission.CreateInvite, false)).toBe('2');
    expect(toggled((1n << 40n).toString(), Permission.ManageRoles, true)).toBe(((1n << 40n) | (1n << 28n)).toString());
  });

  it('lists roles highest first and @everyone last', () => {
    expect(rolesByPosition(roles, '10').map((known) => known.id)).toEqual(['30', '20', '10']);
  });

  it('names the permissions a bit set asks for, beyond 32 bits and unknown ones too', () => {
    const asked = Permission.SendMessages | Permission.ViewChannel | Permission.Administrator | (1n << 40n) | (1n << 47n);
    expect(permissionNames(asked.toString())).toEqual([
      'Administrator',
      'View Channels',
      'Send Messages',
      'Timeout Members',
      'Unknown permission (bit 47)',
    ]);
    expect(permissionNames('0')).toEqual([]);
    expect(permissionNames('not a number')).toEqual([]);
  });

  it('labels the role toggles with the same names', () => {
    expect(ROLE_TOGGLES.find((toggle) => toggle.bit === Permission.ManageGuild)?.label).toBe('Manage Server');
  });

  it('lets owners, administrators and server managers add bots, and nobody else', () => {
    expect(canAddBots({ owner: true, permissions: '0' })).toBe(true);
    expect(canAddBots({ owner: false, permissions: Permission.Administrator.toString() })).toBe(true);
    expect(canAddBots({ owner: false, permissions: Permission.ManageGuild.toString() })).toBe(true);
    const everythingElse = (1n << 51n) - 1n - Permission.Administrator - Permission.ManageGuild;
    expect(canAddBots({ owner: false, permissions: everythingElse.toString() })).toBe(false);
  });
});

describe('channel overwrites', () => {
  const view = Permission.ViewChannel;
  const send = Permission.SendMessages;

  it('read each permission as allowed, denied or left to the roles', () => {
    const overwrite = { allow: send.toString(), deny: view.toString() };
    expect(overwriteState(overwrite, view)).toBe('deny');
    expect(overwriteState(overwrite, send)).toBe('allow');
    expect(overwriteState(overwrite, Permission.AddReactions)).toBe('inherit');
  });

  it('move one permission between allow, inherit and deny, leaving the others', () => {
    const start = { allow: send.toString(), deny: '0' };
    const denied = withOverwriteState(start, view, 'deny');
    expect(denied).toEqual({ allow: send.toString(), deny: view.toString() });
    const allowed = withOverwriteState(denied, view, 'allow');
    expect(allowed).toEqual({ allow: (send | view).toString(), deny: '0' });
    expect(withOverwriteState(allowed, view, 'inherit')).toEqual(start);
  });
});
