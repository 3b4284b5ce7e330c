// Managing a server: creating channels and categories, roles and their permission
// toggles (and who has them), channels' permission overwrites (ChannelPermissions),
// members (kick and ban), bans, and invites. Each tab
// shows what the user's permissions allow; the server checks every request anyway.
// Roles, members and channels are the gateway's (the store updates when a change
// lands); invites and bans are read through REST when their tab opens.

import { useCallback, useEffect, useId, useMemo, useState, type SubmitEvent } from 'react';

import { guildIconUrl, IMAGE_TYPES, imageData } from '../api/images';
import { describeError } from '../api/rest';
import { ChannelType, type Ban, type Guild, type Invite, type Member, type Role, type Snowflake } from '../api/types';
import { navigate } from '../router';
import { usePermissions, useSession, useStore } from '../state/hooks';
import { bits, has, Permission, ROLE_TOGGLES, rolesByPosition, toggled } from '../state/permissions';
import { channelGroups, displayName } from '../state/selectors';
import { Dialog } from './Dialog';
import { formText } from './formText';
import { ChannelPermissionsTab } from './ChannelPermissions';
import { InviteDialog } from './ServerDialogs';
import { useAction } from './useAction';

const CHANNEL_KINDS = [
  { type: ChannelType.GuildText, label: 'Text channel' },
  { type: ChannelType.GuildVoice, label: 'Voice channel' },
  { type: ChannelType.GuildCategory, label: 'Category' },
] as const;

export function CreateChannelDialog({ guild, onClose }: { guild: Guild; onClose: () => void }) {
  const session = useSession();
  const channels = useStore((state) => state.channels);
  const categories = useMemo(
    () => channelGroups(channels, guild.id).flatMap((group) => (group.category === null ? [] : [group.category])),
    [channels, guild.id],
  );
  const [type, setType] = useState<number>(ChannelType.GuildText);
  const [busy, setBusy] = useState(false);
  const { run, shown } = useAction();
  const nameId = useId();
  const parentId = useId();

  function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = formText(form, 'name').trim();
    const parent = type === ChannelType.GuildCategory ? '' : formText(form, 'parent');
    if (name === '') return;
    setBusy(true);
    run(async () => {
      try {
        const channel = await session.api.createChannel(guild.id, name, type, parent === '' ? null : parent);
        await session.waitFor((state) => state.channels[channel.id] !== undefined);
        if (channel.type === ChannelType.GuildText) navigate({ name: 'guild', guildId: guild.id, channelId: channel.id });
        onClose();
      } finally {
        setBusy(false);
      }
    });
  }

  return (
    <Dialog title="Create a channel" onClose={onClose}>
      <form onSubmit={submit}>
        <fieldset className="choice-group">
          <legend>Kind</legend>
          {CHANNEL_KINDS.map((kind) => (
            <label key={kind.type} className="choice">
              <input type="radio" name="type" checked={type === kind.type} onChange={() => { setType(kind.type); }} />
              {kind.label}
            </label>
          ))}
        </fieldset>
        <label htmlFor={nameId}>{type === ChannelType.GuildCategory ? 'Category name' : 'Channel name'}</label>
        <input id={nameId} name="name" required maxLength={100} autoFocus placeholder={type === ChannelType.GuildCategory ? 'Projects' : 'new-channel'} />
        {type !== ChannelType.GuildCategory && categories.length > 0 && (
          <>
            <label htmlFor={parentId}>In category</label>
            <select id={parentId} name="parent" defaultValue="">
              <option value="">None</option>
              {categories.map((category) => (
                <option key={category.id} value={category.id}>
                  {category.name}
                </option>
              ))}
            </select>
          </>
        )}
        {shown}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}

type Tab = 'overview' | 'roles' | 'channels' | 'members' | 'invites' | 'bans';

export function ServerSettingsDialog({ guild, onClose }: { guild: Guild; onClose: () => void }) {
  const permissions = usePermissions(guild.id);
  const tabs = useMemo(() => {
    const shown: { id: Tab; label: string }[] = [];
    if (has(permissions, Permission.ManageGuild)) shown.push({ id: 'overview', label: 'Overview' });
    if (has(permissions, Permission.ManageRoles)) {
      shown.push({ id: 'roles', label: 'Roles' }, { id: 'channels', label: 'Channel permissions' });
    }
    if (has(permissions, Permission.KickMembers) || has(permissions, Permission.BanMembers)) {
      shown.push({ id: 'members', label: 'Members' });
    }
    if (has(permissions, Permission.BanMembers)) shown.push({ id: 'bans', label: 'Bans' });
    if (has(permissions, Permission.ManageGuild)) shown.push({ id: 'invites', label: 'Invites' });
    return shown;
  }, [permissions]);
  const [tab, setTab] = useState<Tab | null>(null);
  const current = tab ?? tabs[0]?.id ?? null;

  return (
    <Dialog title={`${guild.name} settings`} onClose={onClose} wide>
      <div className="tabs" role="tablist" aria-label="Settings">
        {tabs.map((entry) => (
          <button
            key={entry.id}
            type="button"
            role="tab"
            id={`settings-tab-${entry.id}`}
            aria-selected={entry.id === current}
            aria-controls="settings-panel"
            className={entry.id === current ? 'tab active' : 'tab'}
            onClick={() => { setTab(entry.id); }}
          >
            {entry.label}
          </button>
        ))}
      </div>
      <div id="settings-panel" role="tabpanel" aria-labelledby={current === null ? undefined : `settings-tab-${current}`}>
        {current === null && <p className="muted">You cannot manage this server.</p>}
        {current === 'overview' && <OverviewTab guild={guild} />}
        {current === 'roles' && <RolesTab guild={guild} />}
        {current === 'channels' && <ChannelPermissionsTab guild={guild} />}
        {current === 'members' && <MembersTab guild={guild} permissions={permissions} />}
        {current === 'bans' && <BansTab guild={guild} />}
        {current === 'invites' && <InvitesTab guild={guild} />}
      </div>
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

/** The server's icon: pick an image (sent as Discord's image data) or remove it.
 * The rail shows the new icon when GUILD_UPDATE lands. */
function OverviewTab({ guild }: { guild: Guild }) {
  const session = useSession();
  const live = useStore((state) => state.guilds[guild.id]) ?? guild;
  const { run, shown } = useAction();
  const [busy, setBusy] = useState(false);
  const [picked, setPicked] = useState<string | null>(null);
  const inputId = useId();
  const url = guildIconUrl(live);

  const change = (icon: string | null) => {
    setBusy(true);
    run(async () => {
      try {
        const updated = await session.api.modifyGuildIcon(guild.id, icon);
        await session.waitFor((state) => state.guilds[guild.id]?.icon === updated.icon);
      } finally {
        setBusy(false);
      }
    });
  };

  return (
    <section aria-label="Server icon">
      <h3>Server icon</h3>
      {url === null ? <p className="muted">No icon: the server shows its initials.</p> : <img className="guild-icon-preview" src={url} alt="Current server icon" />}
      {shown}
      {picked !== null && (
        <p className="form-error" role="alert">
          {picked}
        </p>
      )}
      <label htmlFor={inputId}>Upload an icon (PNG, JPEG, GIF or WebP)</label>
      <input
        id={inputId}
        type="file"
        accept={IMAGE_TYPES}
        disabled={busy}
        onChange={(event) => {
          const input = event.currentTarget;
          const file = input.files?.[0];
          if (file === undefined) return;
          setPicked(null);
          void imageData(file).then((result) => {
            input.value = '';
            if ('error' in result) setPicked(result.error);
            else change(result.data);
          });
        }}
      />
      {url !== null && (
        <div className="dialog-actions">
          <button type="button" className="danger" disabled={busy} onClick={() => { change(null); }}>
            Remove icon
          </button>
        </div>
      )}
    </section>
  );
}

function RolesTab({ guild }: { guild: Guild }) {
  const session = useSession();
  const roleMap = useStore((state) => state.roles[guild.id]);
  const roles = useMemo(() => rolesByPosition(roleMap, guild.id), [roleMap, guild.id]);
  const [selected, setSelected] = useState<Snowflake | null>(null);
  const { run, shown } = useAction();
  const role = roles.find((known) => known.id === selected) ?? roles[0];
  const nameId = useId();

  function create(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const name = formText(new FormData(form), 'name').trim();
    if (name === '') return;
    run(async () => {
      const created = await session.api.createRole(guild.id, name);
      await session.waitFor((state) => state.roles[guild.id]?.[created.id] !== undefined);
      form.reset();
      setSelected(created.id);
    });
  }

  return (
    <div className="roles-tab">
      <form className="inline-form" onSubmit={create}>
        <label htmlFor={nameId} className="visually-hidden">
          New role name
        </label>
        <input id={nameId} name="name" placeholder="New role name" maxLength={100} required />
        <button type="submit">Create role</button>
      </form>
      {shown}
      <div className="roles-layout">
        <ul className="role-list" role="listbox" aria-label="Roles">
          {roles.map((known) => (
            <li
              key={known.id}
              role="option"
              aria-selected={known.id === role?.id}
              tabIndex={0}
              className={known.id === role?.id ? 'active' : undefined}
              onClick={() => { setSelected(known.id); }}
              onKeyDown={(event) => {
                if (event.key === 'Enter' || event.key === ' ') {
                  event.preventDefault();
                  setSelected(known.id);
                }
              }}
            >
              {known.id === guild.id ? '@everyone' : known.name}
            </li>
          ))}
        </ul>
        {role !== undefined && <RoleEditor key={role.id} guild={guild} role={role} />}
      </div>
    </div>
  );
}

function RoleEditor({ guild, role }: { guild: Guild; role: Role }) {
  const session = useSession();
  const members = useStore((state) => state.members[guild.id]);
  const everyone = role.id === guild.id;
  const { run, shown } = useAction();
  const name = everyone ? '@everyone' : role.name;
  const value = bits(role.permissions);

  const toggle = (bit: bigint, on: boolean) => {
    run(() => session.api.modifyRole(guild.id, role.id, { permissions: toggled(role.permissions, bit, on) }));
  };
  const setMember = (member: Member, on: boolean) => {
    run(() =>
      on
        ? session.api.addMemberRole(guild.id, member.user.id, role.id)
        : session.api.removeMemberRole(guild.id, member.user.id, role.id),
    );
  };
  const people = useMemo(
    () => Object.values(members ?? {}).sort((a, b) => displayName(a.user, a).localeCompare(displayName(b.user, b))),
    [members],
  );

  return (
    <section className="role-editor" aria-label={`Role ${name}`}>
      <div className="role-editor-head">
        <h3>{name}</h3>
        {!everyone && (
          <button type="button" className="danger" onClick={() => { run(() => session.api.deleteRole(guild.id, role.id)); }}>
            Delete role
          </button>
        )}
      </div>
      {shown}
      <h4>Permissions</h4>
      <ul className="toggle-list" aria-label={`Permissions of ${name}`}>
        {ROLE_TOGGLES.map((entry) => {
          const on = (value & entry.bit) === entry.bit;
          return (
            <li key={entry.label}>
              <div>
                <div className="toggle-label">{entry.label}</div>
                <div className="muted">{entry.hint}</div>
              </div>
              <button
                type="button"
                role="switch"
                aria-checked={on}
                aria-label={entry.label}
                className={`switch${on ? ' on' : ''}`}
                onClick={() => { toggle(entry.bit, !on); }}
              />
            </li>
          );
        })}
      </ul>
      {!everyone && (
        <>
          <h4>Members with this role</h4>
          <ul className="toggle-list" aria-label={`Members with ${name}`}>
            {people.map((member) => {
              const on = member.roles?.includes(role.id) ?? false;
              const who = displayName(member.user, member);
              return (
                <li key={member.user.id}>
                  <div className="toggle-label">{who}</div>
                  <button
                    type="button"
                    role="switch"
                    aria-checked={on}
                    aria-label={who}
                    className={`switch${on ? ' on' : ''}`}
                    onClick={() => { setMember(member, !on); }}
                  />
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}

function MembersTab({ guild, permissions }: { guild: Guild; permissions: bigint }) {
  const session = useSession();
  const members = useStore((state) => state.members[guild.id]);
  const meId = useStore((state) => state.me?.id);
  const [confirm, setConfirm] = useState<{ member: Member; action: 'kick' | 'ban' } | null>(null);
  const { run, shown } = useAction();
  const people = useMemo(
    () => Object.values(members ?? {}).sort((a, b) => displayName(a.user, a).localeCompare(displayName(b.user, b))),
    [members],
  );
  const canKick = has(permissions, Permission.KickMembers);
  const canBan = has(permissions, Permission.BanMembers);

  return (
    <>
      {shown}
      <ul className="dialog-list" aria-label="Members">
        {people.map((member) => {
          const who = displayName(member.user, member);
          // Nobody removes themself here (that is leaving), nor the owner.
          const removable = member.user.id !== meId && member.user.id !== guild.owner_id;
          return (
            <li key={member.user.id}>
              <div className="dialog-list-title">{who}</div>
              {removable && (
                <div className="row-actions">
                  {canKick && (
                    <button type="button" onClick={() => { setConfirm({ member, action: 'kick' }); }} aria-label={`Kick ${who}`}>
                      Kick
                    </button>
                  )}
                  {canBan && (
                    <button type="button" className="danger" onClick={() => { setConfirm({ member, action: 'ban' }); }} aria-label={`Ban ${who}`}>
                      Ban
                    </button>
                  )}
                </div>
              )}
            </li>
          );
        })}
      </ul>
      {confirm !== null && (
        <Dialog
          title={`${confirm.action === 'kick' ? 'Kick' : 'Ban'} ${displayName(confirm.member.user, confirm.member)}?`}
          onClose={() => { setConfirm(null); }}
        >
          <p>
            {confirm.action === 'kick'
              ? 'They leave the server and can come back with an invite.'
              : 'They leave the server and cannot come back until unbanned.'}
          </p>
          <div className="dialog-actions">
            <button type="button" onClick={() => { setConfirm(null); }}>
              Cancel
            </button>
            <button
              type="button"
              className="danger primary"
              onClick={() => {
                const { member, action } = confirm;
                setConfirm(null);
                run(() => (action === 'kick' ? session.api.kick(guild.id, member.user.id) : session.api.ban(guild.id, member.user.id)));
              }}
            >
              {confirm.action === 'kick' ? 'Kick' : 'Ban'}
            </button>
          </div>
        </Dialog>
      )}
    </>
  );
}

/** A REST list that loads when its tab opens and again after each change. */
function useList<T>(load: () => Promise<T[]>) {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    load().then(setItems, (caught: unknown) => {
      setError(describeError(caught));
    });
  }, [load]);
  useEffect(reload, [reload]);
  return { items, error, reload };
}

function BansTab({ guild }: { guild: Guild }) {
  const session = useSession();
  const load = useCallback(() => session.api.bans(guild.id), [session, guild.id]);
  const { items, error, reload } = useList<Ban>(load);
  const { run, shown } = useAction();
  return (
    <>
      {error !== null && <p className="form-error" role="alert">{error}</p>}
      {shown}
      {items?.length === 0 && <p className="muted">Nobody is banned.</p>}
      <ul className="dialog-list" aria-label="Bans">
        {items?.map((ban) => (
          <li key={ban.user.id}>
            <div className="dialog-list-title">{displayName(ban.user)}</div>
            <button type="button" onClick={() => { run(() => session.api.unban(guild.id, ban.user.id).then(reload)); }}>
              Unban
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}

function InvitesTab({ guild }: { guild: Guild }) {
  const session = useSession();
  const channels = useStore((state) => state.channels);
  const firstText = useMemo(
    () => channelGroups(channels, guild.id).flatMap((group) => group.channels).find((channel) => channel.type === ChannelType.GuildText),
    [channels, guild.id],
  );
  const load = useCallback(() => session.api.guildInvites(guild.id), [session, guild.id]);
  const { items, error, reload } = useList<Invite>(load);
  const { run, shown } = useAction();
  const [creating, setCreating] = useState(false);
  return (
    <>
      {error !== null && <p className="form-error" role="alert">{error}</p>}
      {shown}
      {items?.length === 0 && <p className="muted">No invites yet.</p>}
      <ul className="dialog-list" aria-label="Invites">
        {items?.map((invite) => (
          <li key={invite.code}>
            <div>
              <div className="dialog-list-title">
                <code className="md-code">{invite.code}</code>
              </div>
              <div className="muted">
                {invite.inviter === undefined ? '' : `by ${displayName(invite.inviter)} · `}
                {`${invite.uses ?? 0} uses`}
                {invite.expires_at === null || invite.expires_at === undefined ? '' : ` · until ${new Date(invite.expires_at).toLocaleString()}`}
              </div>
            </div>
            <button type="button" className="danger" onClick={() => { run(() => session.api.revokeInvite(invite.code).then(reload)); }}>
              Revoke
            </button>
          </li>
        ))}
      </ul>
      {firstText !== undefined && (
        <div className="dialog-actions">
          <button type="button" onClick={() => { setCreating(true); }}>
            Create invite
          </button>
        </div>
      )}
      {creating && firstText !== undefined && (
        <InviteDialog
          channelId={firstText.id}
          onClose={() => {
            setCreating(false);
            reload();
          }}
        />
      )}
    </>
  );
}
