// The channel's history, virtualized: only the rows in view (plus a margin) are in
// the DOM, however long the history. Scrolling to the top loads the page before the
// oldest message, and the rows in view stay where they are while it lands above.
// At the bottom the list follows new messages; scrolled up, nothing moves when
// they arrive. A "new messages" divider marks the first that came while the user
// was elsewhere, and a channel opened with one starts there.

import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';

import { describeError } from '../api/rest';
import { ChannelType, type Channel, type Message, type Snowflake } from '../api/types';
import { usePermissions, useSession, useStore } from '../state/hooks';
import { has, Permission } from '../state/permissions';
import { channelLabel, directName } from '../state/selectors';
import { MessageItem } from './MessageItem';

/** Within this many pixels of the end counts as "at the bottom". */
const BOTTOM_SLACK = 32;
/** A jump to a message not loaded yet pages back at most this far for it. */
const MAX_FOCUS_PAGES = 10;
/** Messages by one author within this long are grouped under one header. */
const GROUP_MS = 7 * 60 * 1000;
const NO_IDS: Snowflake[] = [];

export function MessageList({
  channel,
  focusId,
  onReply,
}: {
  channel: Channel;
  /** A message to scroll to and highlight. */
  focusId: Snowflake | undefined;
  onReply: (message: Message) => void;
}) {
  const session = useSession();
  const history = useStore((state) => state.messages[channel.id]);
  const ids = history?.ids ?? NO_IDS;
  const dividerId = useStore((state) =>
    state.newMessages?.channelId === channel.id ? state.newMessages.messageId : undefined,
  );
  const hasMore = history?.hasMore ?? true;
  const permissions = usePermissions(channel.guild_id ?? '');
  const canPin = channel.type === ChannelType.DM || has(permissions, Permission.ManageMessages);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);

  const byId = history?.byId;
  /** The message of row `index` and the one before it (row 0 is the channel's top). */
  const rowMessages = (index: number) => {
    const at = (id: Snowflake | undefined) => (id === undefined ? undefined : byId?.[id]);
    return { message: at(ids[index - 1]), prior: at(ids[index - 2]) };
  };

  // Row 0 is the top of the channel: "loading" or "the beginning" (a list item too,
  // as a list holds nothing else). Close estimates (a grouped message is one line, a
  // new author's has a header) keep rows from moving when they are measured.
  const virtualizer = useVirtualizer({
    count: ids.length + 1,
    getScrollElement: () => scroller.current,
    estimateSize: (index) => {
      if (index === 0) return 96;
      const { message, prior } = rowMessages(index);
      return message !== undefined && groupedWith(prior, message) ? 24 : 64;
    },
    getItemKey: (index) => (index === 0 ? 'top' : (ids[index - 1] ?? index)),
    overscan: 8,
  });

  /** The latest page when nothing is loaded, else the page before the oldest. */
  const load = useCallback(
    (older: boolean) => {
      setLoading(true);
      const request = older ? session.loadOlder(channel.id) : session.ensureHistory(channel.id);
      request
        .then(() => { setError(null); })
        .catch((caught: unknown) => { setError(describeError(caught)); })
        .finally(() => { setLoading(false); });
    },
    [session, channel.id],
  );

  // The latest page, once per channel (and again after a fresh READY dropped it).
  const loaded = history !== undefined;
  useEffect(() => {
    if (!loaded) load(false);
  }, [loaded, load]);

  // The top row in view: fetch older messages.
  const items = virtualizer.getVirtualItems();
  const topInView = items[0]?.index === 0;
  useEffect(() => {
    if (topInView && loaded && hasMore && !loading && error === null) load(true);
  }, [topInView, loaded, hasMore, loading, error, load]);

  // A jump to a message: scroll it to the middle once it is loaded, paging back
  // (boundedly) when it is older than what is loaded.
  const focusIndex = focusId === undefined ? -1 : ids.indexOf(focusId);
  const focused = useRef<{ id: Snowflake | undefined; pages: number }>({ id: undefined, pages: 0 });
  useEffect(() => {
    if (focusId === undefined || focused.current.id === focusId) return;
    if (focusIndex >= 0) {
      focused.current = { id: focusId, pages: 0 };
      atBottom.current = false;
      virtualizer.scrollToIndex(focusIndex + 1, { align: 'center' });
    } else if (loaded && hasMore && !loading && error === null && focused.current.pages < MAX_FOCUS_PAGES) {
      focused.current.pages += 1;
      load(true);
    }
  }, [focusId, focusIndex, loaded, hasMore, loading, error, load, virtualizer]);

  // Opened with news (once): the divider at the top of the view, not the bottom.
  const dividerIndex = dividerId === undefined ? -1 : ids.indexOf(dividerId);
  const showedDivider = useRef(false);
  useEffect(() => {
    if (showedDivider.current || dividerIndex < 0 || focusId !== undefined) return;
    showedDivider.current = true;
    atBottom.current = false;
    virtualizer.scrollToIndex(dividerIndex + 1, { align: 'start' });
  }, [dividerIndex, focusId, virtualizer]);

  // Older messages landed above: shift by what they added, so the rows in view stay.
  const firstId = ids[0];
  const totalSize = virtualizer.getTotalSize();
  const previous = useRef({ firstId, totalSize });
  useLayoutEffect(() => {
    const element = scroller.current;
    const before = previous.current;
    previous.current = { firstId, totalSize };
    if (element === null) return;
    // At the bottom by where the view is now against the content as it was: a jump
    // the browser has not reported yet (scroll events come a frame later), such as
    // one to the top, must not be undone by rows measured meanwhile.
    const stillAtBottom = atBottom.current && before.totalSize - element.scrollTop - element.clientHeight < BOTTOM_SLACK;
    if (stillAtBottom) {
      element.scrollTop = element.scrollHeight;
    } else if (before.firstId !== undefined && firstId !== before.firstId) {
      element.scrollTop += totalSize - before.totalSize;
    }
  }, [firstId, totalSize]);

  return (
    <div
      ref={scroller}
      className="messages-scroll"
      tabIndex={0}
      aria-label={`Messages in ${channelLabel(channel)}`}
      onScroll={(event) => {
        const element = event.currentTarget;
        atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < BOTTOM_SLACK;
      }}
    >
      <div className="messages" role="list" style={{ height: totalSize }}>
        {items.map((item) => {
          const style = { transform: `translateY(${item.start}px)` };
          if (item.index === 0) {
            return (
              <div
                key={item.key}
                ref={virtualizer.measureElement}
                data-index={0}
                className="row"
                style={style}
                role="listitem"
                aria-setsize={ids.length + 1}
                aria-posinset={1}
              >
                <ChannelTop channel={channel} hasMore={hasMore} error={error} onRetry={() => { load(loaded); }} />
              </div>
            );
          }
          const { message, prior } = rowMessages(item.index);
          if (message === undefined) return null;
          return (
            <div
              key={item.key}
              ref={virtualizer.measureElement}
              data-index={item.index}
              className="row"
              style={style}
              role="listitem"
              aria-setsize={ids.length + 1}
              aria-posinset={item.index + 1}
            >
              {message.id === dividerId && (
                <div className="new-messages" role="separator" aria-label="New messages">
                  New
                </div>
              )}
              <MessageItem
                message={message}
                highlighted={message.id === focusId}
                grouped={message.id !== dividerId && groupedWith(prior, message)}
                replyTo={message.message_reference?.message_id === undefined ? undefined : byId?.[message.message_reference.message_id]}
                canPin={canPin}
                onReply={onReply}
              />
            </div>
          );
        })}
      </div>
    </div>
  );
}

function groupedWith(prior: Message | undefined, message: Message): boolean {
  if (prior === undefined || prior.author.id !== message.author.id) return false;
  if (message.message_reference !== undefined) return false;
  return Date.parse(message.timestamp) - Date.parse(prior.timestamp) < GROUP_MS;
}

function ChannelTop({
  channel,
  hasMore,
  error,
  onRetry,
}: {
  channel: Channel;
  hasMore: boolean;
  error: string | null;
  onRetry: () => void;
}) {
  if (error !== null) {
    return (
      <div className="channel-top" role="alert">
        <p className="form-error">Could not load messages: {error}</p>
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      </div>
    );
  }
  if (hasMore) return <div className="channel-top muted" role="status">Loading messages…</div>;
  if (channel.type === ChannelType.DM) {
    return (
      <div className="channel-top">
        <h2>{directName(channel)}</h2>
        <p className="muted">This is the beginning of your direct messages with {directName(channel)}.</p>
      </div>
    );
  }
  const name = channel.name ?? '';
  return (
    <div className="channel-top">
      <h2>Welcome to #{name}!</h2>
      <p className="muted">This is the start of the #{name} channel.</p>
    </div>
  );
}
