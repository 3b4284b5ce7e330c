import { useMemo } from 'react';

import { useStore } from '../state/hooks';
import { displayName, membersByPresence, type MemberRow } from '../state/selectors';
import { Avatar } from './Avatar';

const STATUS_LABELS = { online: 'Online', idle: 'Idle', dnd: 'Do Not Disturb', offline: 'Offline' } as const;

export function MemberList({ guildId }: { guildId: string }) {
  const members = useStore((state) => state.members[guildId]);
  const presences = useStore((state) => state.presences);
  const { online, offline } = useMemo(() => membersByPresence(members, presences), [members, presences]);
  return (
    <aside className="members" aria-label="Members">
      <MemberSection title="Online" rows={online} />
      <MemberSection title="Offline" rows={offline} />
    </aside>
  );
}

function MemberSection({ title, rows }: { title: string; rows: MemberRow[] }) {
  if (rows.length === 0) return null;
  return (
    <section aria-label={`${title} members`}>
      <h3 className="category">
        {title} — {rows.length}
      </h3>
      <ul role="list">
        {rows.map(({ member, status }) => {
          const name = displayName(member.user, member);
          return (
            <li key={member.user.id} className={`member${status === 'offline' ? ' offline' : ''}`} data-status={status}>
              <Avatar id={member.user.id} name={name} size={32} status={status} />
              <span className="member-name">{name}</span>
              <span className="visually-hidden">, {STATUS_LABELS[status]}</span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
