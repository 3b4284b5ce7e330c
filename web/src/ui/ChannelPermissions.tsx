// Server settings' channel permissions: pick a channel, then give a role or a member
// an overwrite there and set each permission to allow, inherit (the roles decide) or
// deny, as Discord's channel settings do. Changes land through the gateway's
// CHANNEL_UPDATE, like every other change of the server.

import { useId, useMemo, useState } from 'react';

import { ChannelType, type Channel, type Guild, type PermissionOverwrite, type Snowflake } from '../api/types';
import { useSession, useStore } from '../state/hooks';
import { CHANNEL_TOGGLES, overwriteState, rolesByPosition, withOverwriteState, type OverwriteState } from '../state/permissions';
import { channelGroups, displayName } from '../state/selectors';
import { useAction } from './useAction';

const STATES: { value: OverwriteState; label: string }[] = [
  { value: 'deny', label: 'Deny' },
  { value: 'inherit', label: 'Inherit' },
  { value: 'allow', label: 'Allow' },
];

export function ChannelPermissionsTab({ guild }: { guild: Guild }) {
  const channelMap = useStore((state) => state.channels);
  // Categories, then each one's channels, in the sidebar's order.
  const channels = useMemo(
    () =>
      channelGroups(channelMap, guild.id).flatMap((group) => [
        ...(group.category === null ? [] : [group.category]),
        ...group.channels,
      ]),
    [channelMap, guild.id],
  );
  const [selected, setSelected] = useState<Snowflake | null>(null);
  const channel = channels.find((known) => known.id === selected) ?? channels[0];
  const selectId = useId();
  return (
    <div className="channel-permissions">
      <label htmlFor={selectId}>Channel</label>
      <select id={selectId} value={channel?.id ?? ''} onChange={(event) => { setSelected(event.target.value); }}>
        {channels.map((known) => (
          <option key={known.id} value={known.id}>
            {channelTitle(known)}
          </option>
        ))}
      </select>
      {channel !== undefined && <OverwritesEditor key={channel.id} guild={guild} channel={channel} />}
    </div>
  );
}

function channelTitle(channel: Channel): string {
  const name = channel.name ?? channel.id;
  if (channel.type === ChannelType.GuildCategory) return `${name} (category)`;
  return channel.type === ChannelType.GuildVoice ? `${name} (voice)` : `#${name}`;
}

function OverwritesEditor({ guild, channel }: { guild: Guild; channel: Channel }) {
  const session = useSession();
  const roleMap = useStore((state) => state.roles[guild.id]);
  const members = useStore((state) => state.members[guild.id]);
  const { run, shown } = useAction();
  const addId = useId();
  const overwrites = useMemo(() => channel.permission_overwrites ?? [], [channel.permission_overwrites]);
  const name = (overwrite: { id: Snowflake; type: 0 | 1 }) => {
    if (overwrite.type === 1) {
      const member = members?.[overwrite.id];
      return member === undefined ? overwrite.id : displayName(member.user, member);
    }
    return overwrite.id === guild.id ? '@everyone' : (roleMap?.[overwrite.id]?.name ?? overwrite.id);
  };
  // Who may get an overwrite: the roles (highest first) and the members without one.
  const candidates = useMemo(() => {
    const taken = new Set(overwrites.map((overwrite) => overwrite.id));
    const roles = rolesByPosition(roleMap, guild.id).map((role) => ({ id: role.id, type: 0 as const }));
    const people = Object.values(members ?? {}).map((member) => ({ id: member.user.id, type: 1 as const }));
    return [...roles, ...people].filter((target) => !taken.has(target.id));
  }, [overwrites, roleMap, members, guild.id]);
  const [adding, setAdding] = useState('');

  const save = (overwrite: PermissionOverwrite, bits: { allow: string; deny: string }) => {
    run(async () => {
      await session.api.editChannelPermission(channel.id, overwrite.id, overwrite.type, bits.allow, bits.deny);
      await session.waitFor((state) =>
        state.channels[channel.id]?.permission_overwrites?.some(
          (known) => known.id === overwrite.id && known.allow === bits.allow && known.deny === bits.deny,
        ) === true,
      );
    });
  };

  return (
    <section className="overwrites" aria-label={`Permissions of ${channelTitle(channel)}`}>
      <form
        className="inline-form"
        onSubmit={(event) => {
          event.preventDefault();
          const target = candidates.find((candidate) => candidate.id === (adding || candidates[0]?.id));
          if (target === undefined) return;
          save({ ...target, allow: '0', deny: '0' }, { allow: '0', deny: '0' });
          setAdding('');
        }}
      >
        <label htmlFor={addId}>Add a role or member</label>
        <select id={addId} value={adding || (candidates[0]?.id ?? '')} onChange={(event) => { setAdding(event.target.value); }}>
          {candidates.map((candidate) => (
            <option key={candidate.id} value={candidate.id}>
              {candidate.type === 1 ? `Member: ${name(candidate)}` : `Role: ${name(candidate)}`}
            </option>
          ))}
        </select>
        <button type="submit" disabled={candidates.length === 0}>
          Add
        </button>
      </form>
      {shown}
      {overwrites.length === 0 && <p className="muted">No overwrites: the roles alone decide who may do what here.</p>}
      {overwrites.map((overwrite) => (
        <section key={overwrite.id} className="overwrite" aria-label={`Overwrite for ${name(overwrite)}`}>
          <div className="role-editor-head">
            <h4>{name(overwrite)}</h4>
            <button
              type="button"
              className="danger"
              onClick={() => {
                run(() => session.api.deleteChannelPermission(channel.id, overwrite.id));
              }}
            >
              Remove
            </button>
          </div>
          {CHANNEL_TOGGLES.map(({ bit, label, hint }) => (
            <fieldset key={label} className="overwrite-toggle">
              <legend title={hint}>{label}</legend>
              {STATES.map((state) => (
                <label key={state.value}>
                  <input
                    type="radio"
                    name={`${overwrite.id}-${label}`}
                    checked={overwriteState(overwrite, bit) === state.value}
                    onChange={() => { save(overwrite, withOverwriteState(overwrite, bit, state.value)); }}
                  />
                  {state.label}
                </label>
              ))}
            </fieldset>
          ))}
        </section>
      ))}
    </section>
  );
}
