// The channel's pinned messages: a button in the chat's header and the list it
// opens, which loads them afresh each time, jumps to each, and unpins for those who
// may. CHANNEL_PINS_UPDATE is not followed while the list is open: it can arrive
// before the pins read shows the change (see web/README.md), and a reload then
// would undo what the user just did.

import { useEffect, useState } from 'react';

import { describeError } from '../api/rest';
import { ChannelType, type Channel, type Message } from '../api/types';
import { usePermissions, useSession, useStore } from '../state/hooks';
import { has, Permission } from '../state/permissions';
import { displayName, plainText } from '../state/selectors';
import { Dialog } from './Dialog';
import { Icon } from './Icon';

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

export function PinsButton({ channel }: { channel: Channel }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className="icon-button" aria-label="Pinned messages" title="Pinned messages" onClick={() => { setOpen(true); }}>
        <Icon name="pin" />
      </button>
      {open && <PinsDialog channel={channel} onClose={() => { setOpen(false); }} />}
    </>
  );
}

function PinsDialog({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const session = useSession();
  const pins = useStore((state) => state.pins[channel.id]);
  const permissions = usePermissions(channel.guild_id ?? '');
  const canUnpin = channel.type === ChannelType.DM || has(permissions, Permission.ManageMessages);
  const [error, setError] = useState<string | null>(null);

  // Loaded afresh when opened; until then, what was loaded last time.
  useEffect(() => {
    session.loadPins(channel.id).catch((caught: unknown) => { setError(describeError(caught)); });
  }, [session, channel.id]);

  let body;
  if (error !== null) body = <p className="form-error" role="alert">{error}</p>;
  else if (pins === undefined) body = <p role="status">Loading…</p>;
  else if (pins.length === 0) body = <p className="inbox-empty">This channel has no pinned messages yet.</p>;
  else {
    body = (
      <ul className="dialog-list pins-list" aria-label="Pinned messages">
        {pins.map((message) => (
          <PinRow
            key={message.id}
            message={message}
            canUnpin={canUnpin}
            onJump={() => {
              session.jumpTo(message);
              onClose();
            }}
            onError={setError}
          />
        ))}
      </ul>
    );
  }
  return (
    <Dialog title="Pinned messages" onClose={onClose}>
      {body}
      <div className="dialog-actions">
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

function PinRow({
  message,
  canUnpin,
  onJump,
  onError,
}: {
  message: Message;
  canUnpin: boolean;
  onJump: () => void;
  onError: (error: string) => void;
}) {
  const session = useSession();
  const text = useStore((state) => plainText(state, message));
  const author = displayName(message.author);
  return (
    <li data-message-id={message.id}>
      <div className="inbox-text">
        <div className="dialog-list-title">{author}</div>
        <div className="inbox-preview">{text}</div>
        <div className="muted">{timeFormat.format(new Date(message.timestamp))}</div>
      </div>
      <button type="button" onClick={onJump} aria-label={`Jump to ${author}'s message`}>
        Jump
      </button>
      {canUnpin && (
        <button
          type="button"
          aria-label={`Unpin ${author}'s message`}
          onClick={() => {
            session.setPinned(message.channel_id, message.id, false).catch((caught: unknown) => { onError(describeError(caught)); });
          }}
        >
          Unpin
        </button>
      )}
    </li>
  );
}
