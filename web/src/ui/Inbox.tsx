// The notification area: a bell with the count of unread mentions and replies, and
// the list behind it, each jumping to its message.

import { useMemo, useState } from 'react';

import { askDesktopPermission, desktopPermission, type DesktopPermission } from '../desktopNotifications';
import type { InboxItem } from '../state/notifications';
import { unreadCount } from '../state/notifications';
import { useSession, useStore } from '../state/hooks';
import { inboxTitle, plainText } from '../state/selectors';
import { Dialog } from './Dialog';
import { Badge } from './Badge';
import { Icon } from './Icon';

export function InboxButton() {
  const notifications = useStore((state) => state.notifications);
  const unread = useMemo(() => unreadCount(notifications), [notifications]);
  const [open, setOpen] = useState(false);
  const label = unread === 0 ? 'Notifications' : `Notifications, ${unread} unread`;
  return (
    <>
      <button type="button" className="icon-button inbox-button" aria-label={label} title={label} onClick={() => { setOpen(true); }}>
        <Icon name="bell" />
        <Badge count={unread} />
      </button>
      {open && <InboxDialog onClose={() => { setOpen(false); }} />}
    </>
  );
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

function InboxDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  const notifications = useStore((state) => state.notifications);
  const [permission, setPermission] = useState<DesktopPermission>(desktopPermission);
  const [pushProblem, setPushProblem] = useState<string | null>(null);
  const enable = async () => {
    const granted = await askDesktopPermission();
    setPermission(granted);
    if (granted !== 'granted') return;
    // Notifications while no tab is open need this browser's push service too.
    await session.enablePush().then(
      () => {
        setPushProblem(null);
      },
      (error: unknown) => {
        setPushProblem(error instanceof Error ? error.message : String(error));
      },
    );
  };
  const unread = unreadCount(notifications);
  return (
    <Dialog title="Notifications" onClose={onClose}>
      <p className="muted">Mentions of you and replies to you.</p>
      {notifications.length === 0 ? (
        <p className="inbox-empty">Nothing yet. When someone mentions you or replies to you, it shows here.</p>
      ) : (
        <ul className="dialog-list inbox-list" aria-label="Mentions and replies">
          {notifications.map((item) => (
            <InboxRow
              key={item.message.id}
              item={item}
              onJump={() => {
                session.jumpTo(item.message);
                onClose();
              }}
            />
          ))}
        </ul>
      )}
      {pushProblem !== null && (
        <p className="muted" role="status">
          Notifications show only while CloudCord is open: this browser could not subscribe to pushes ({pushProblem}).
        </p>
      )}
      <div className="dialog-actions">
        {permission === 'default' && (
          <button type="button" onClick={() => void enable()}>
            Enable desktop notifications
          </button>
        )}
        {unread > 0 && (
          <button type="button" onClick={() => { session.markAllRead(); }}>
            Mark all read
          </button>
        )}
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

function InboxRow({ item, onJump }: { item: InboxItem; onJump: () => void }) {
  const title = useStore((state) => inboxTitle(state, item));
  const text = useStore((state) => plainText(state, item.message));
  return (
    <li className={item.read ? 'read' : 'unread'} data-message-id={item.message.id}>
      <div className="inbox-text">
        <div className="dialog-list-title">
          {!item.read && <span className="visually-hidden">Unread: </span>}
          {title}
        </div>
        <div className="inbox-preview">{text}</div>
        <div className="muted">{timeFormat.format(new Date(item.message.timestamp))}</div>
      </div>
      <button type="button" onClick={onJump} aria-label={`Jump to the message: ${title}`}>
        Jump
      </button>
    </li>
  );
}
