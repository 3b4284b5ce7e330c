// Home's friends: add a friend by username, and the friends, pending requests and
// blocks, each with what can be done to it. READY brings the list and the gateway's
// RELATIONSHIP_ADD and RELATIONSHIP_REMOVE keep it current, the user's own changes
// included (a resumed session replays what it missed).

import { useId, useMemo, useState } from 'react';

import { describeError } from '../api/rest';
import { RelationshipType, type Relationship } from '../api/types';
import { useSession, useStore } from '../state/hooks';
import { displayName, incomingRequests } from '../state/selectors';
import { Avatar } from './Avatar';

type Tab = 'all' | 'pending' | 'blocked';

const TABS: { id: Tab; label: string; types: readonly Relationship['type'][] }[] = [
  { id: 'all', label: 'All friends', types: [RelationshipType.Friend] },
  { id: 'pending', label: 'Pending', types: [RelationshipType.Incoming, RelationshipType.Outgoing] },
  { id: 'blocked', label: 'Blocked', types: [RelationshipType.Blocked] },
];

const EMPTY: Record<Tab, string> = {
  all: 'No friends yet. Add someone by their username above.',
  pending: 'No pending requests.',
  blocked: 'Nobody is blocked.',
};

export function Friends() {
  const relationships = useStore((state) => state.relationships);
  const [tab, setTab] = useState<Tab>('all');
  const [problem, setProblem] = useState<string | null>(null);
  const current = TABS.find((entry) => entry.id === tab) ?? TABS[0];
  const shown = useMemo(
    () => (relationships ?? []).filter((relationship) => current?.types.includes(relationship.type) === true),
    [relationships, current],
  );
  const incoming = incomingRequests(relationships);
  const act = (change: Promise<undefined>) => {
    setProblem(null);
    change.catch((caught: unknown) => {
      setProblem(describeError(caught));
    });
  };

  return (
    <div className="friends">
      <AddFriend />
      <div className="tabs" role="tablist" aria-label="Friends">
        {TABS.map((entry) => (
          <button
            key={entry.id}
            type="button"
            role="tab"
            id={`friends-tab-${entry.id}`}
            aria-selected={entry.id === tab}
            aria-controls="friends-panel"
            className={entry.id === tab ? 'tab active' : 'tab'}
            onClick={() => { setTab(entry.id); }}
          >
            {entry.id === 'pending' && incoming > 0 ? `${entry.label} (${incoming})` : entry.label}
          </button>
        ))}
      </div>
      <div id="friends-panel" role="tabpanel" aria-labelledby={`friends-tab-${tab}`}>
        {problem !== null && (
          <p className="form-error" role="alert">
            {problem}
          </p>
        )}
        {relationships === null ? (
          <p className="muted">Loading…</p>
        ) : shown.length === 0 ? (
          <p className="muted">{EMPTY[tab]}</p>
        ) : (
          <ul className="dialog-list friends-list" aria-label={current?.label}>
            {shown.map((relationship) => (
              <FriendRow key={relationship.id} relationship={relationship} act={act} />
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

function FriendRow({ relationship, act }: { relationship: Relationship; act: (change: Promise<undefined>) => void }) {
  const session = useSession();
  const status = useStore((state) => state.presences[relationship.id]);
  const name = relationship.user == null ? relationship.id : displayName(relationship.user);
  const { api } = session;
  const button = (label: string, onClick: () => void, className?: string) => (
    <button type="button" className={className} onClick={onClick} aria-label={`${label} ${name}`}>
      {label}
    </button>
  );
  const detail = {
    [RelationshipType.Friend]: status === undefined ? 'Friend' : status,
    [RelationshipType.Blocked]: 'Blocked',
    [RelationshipType.Incoming]: 'Incoming friend request',
    [RelationshipType.Outgoing]: 'Outgoing friend request',
  }[relationship.type];
  return (
    <li className="friend">
      <Avatar id={relationship.id} name={name} size={32} {...(status === undefined ? {} : { status })} />
      <div className="friend-text">
        <span className="dialog-list-title">{name}</span>
        <span className="muted">{detail}</span>
      </div>
      <div className="friend-actions">
        {relationship.type === RelationshipType.Friend && (
          <>
            {button('Message', () => void session.openDirect(relationship.id), 'primary')}
            {button('Remove', () => { act(api.removeRelationship(relationship.id)); })}
          </>
        )}
        {relationship.type === RelationshipType.Incoming && (
          <>
            {button('Accept', () => { act(api.putRelationship(relationship.id)); }, 'primary')}
            {button('Ignore', () => { act(api.removeRelationship(relationship.id)); })}
          </>
        )}
        {relationship.type === RelationshipType.Outgoing && button('Cancel', () => { act(api.removeRelationship(relationship.id)); })}
        {relationship.type === RelationshipType.Blocked && button('Unblock', () => { act(api.removeRelationship(relationship.id)); })}
        {relationship.type !== RelationshipType.Blocked &&
          button('Block', () => { act(api.putRelationship(relationship.id, true)); }, 'danger')}
      </div>
    </li>
  );
}

function AddFriend() {
  const session = useSession();
  const [username, setUsername] = useState('');
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const inputId = useId();
  return (
    <form
      className="add-friend"
      onSubmit={(event) => {
        event.preventDefault();
        const name = username.trim();
        if (name === '') return;
        session.api.requestFriend(name).then(
          () => {
            setUsername('');
            setOutcome({ ok: true, text: `Friend request sent to ${name}.` });
          },
          (caught: unknown) => {
            setOutcome({ ok: false, text: describeError(caught) });
          },
        );
      }}
    >
      <label htmlFor={inputId}>Add a friend by their username</label>
      <div className="add-friend-row">
        <input id={inputId} value={username} autoComplete="off" onChange={(event) => { setUsername(event.target.value); }} />
        <button type="submit" className="primary" disabled={username.trim() === ''}>
          Send friend request
        </button>
      </div>
      {outcome !== null && (
        <p className={outcome.ok ? 'muted' : 'form-error'} role={outcome.ok ? 'status' : 'alert'}>
          {outcome.text}
        </p>
      )}
    </form>
  );
}
