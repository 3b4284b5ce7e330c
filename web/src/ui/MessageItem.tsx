import { useState, type KeyboardEvent } from 'react';

import { describeError } from '../api/rest';
import type { Message, Reaction } from '../api/types';
import { Markdown } from '../markdown/Markdown';
import { useSession, useStore } from '../state/hooks';
import { displayName, mentionName } from '../state/selectors';
import { Avatar } from './Avatar';
import { Dialog } from './Dialog';
import { Attachments } from './Attachments';
import { Icon } from './Icon';

/** The quick reactions offered on every message. */
const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🔥', '👀'];

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

function when(timestamp: string): string {
  const date = new Date(timestamp);
  const today = new Date().toDateString() === date.toDateString();
  return today ? `Today at ${timeFormat.format(date)}` : dateFormat.format(date);
}

export function MessageItem({
  message,
  highlighted,
  grouped,
  replyTo,
  canPin,
  onReply,
}: {
  message: Message;
  /** The message a jump led to. */
  highlighted: boolean;
  /** Follows a message by the same author: no avatar or name. */
  grouped: boolean;
  /** The message this one replies to, when it is loaded. */
  replyTo: Message | undefined;
  /** The user may pin and unpin messages here (Manage Messages, or a DM). */
  canPin: boolean;
  onReply: (message: Message) => void;
}) {
  const session = useSession();
  const meId = useStore((state) => state.me?.id);
  const member = useStore((state) =>
    message.guild_id === undefined ? undefined : state.members[message.guild_id]?.[message.author.id],
  );
  const [editing, setEditing] = useState(false);
  const [picking, setPicking] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mine = message.author.id === meId;
  const name = displayName(message.author, member);
  const fail = (caught: unknown) => { setError(describeError(caught)); };

  const react = (emoji: string, already: boolean) => {
    setPicking(false);
    session.toggleReaction(message.channel_id, message.id, emoji, already).catch(fail);
  };

  return (
    <article
      className={`message${grouped ? ' grouped' : ''}${highlighted ? ' highlighted' : ''}`}
      aria-label={`${name}, ${when(message.timestamp)}`}
      data-message-id={message.id}
      aria-current={highlighted ? 'true' : undefined}
      // Focusable, so the keyboard reaches its actions (shown on focus, as on hover).
      tabIndex={0}
    >
      {message.message_reference !== undefined && (
        <div className="reply-preview">
          ↪{' '}
          {replyTo === undefined ? (
            <span className="muted">Original message not loaded</span>
          ) : (
            <>
              <strong>{displayName(replyTo.author)}</strong> <span className="muted">{replyTo.content.slice(0, 120)}</span>
            </>
          )}
        </div>
      )}
      <div className="message-body">
        <div className="message-gutter">
          {grouped ? (
            <time className="message-hover-time" dateTime={message.timestamp}>
              {timeFormat.format(new Date(message.timestamp))}
            </time>
          ) : (
            <Avatar id={message.author.id} name={name} />
          )}
        </div>
        <div className="message-main">
          {!grouped && (
            <div className="message-header">
              <span className="message-author">{name}</span>
              <time className="message-time" dateTime={message.timestamp}>
                {when(message.timestamp)}
              </time>
            </div>
          )}
          {editing ? (
            <EditBox
              initial={message.content}
              onCancel={() => { setEditing(false); }}
              onSave={(content) => {
                setEditing(false);
                if (content !== message.content) session.edit(message.channel_id, message.id, content).catch(fail);
              }}
            />
          ) : (
            <div className="message-content">
              <Markdown source={message.content} mentionName={(target, id) => mentionName(session.store.getState(), message, target, id)} />
              {message.edited_timestamp !== null && (
                <span className="edited" title={when(message.edited_timestamp)}>
                  {' '}
                  (edited)
                </span>
              )}
            </div>
          )}
          <Attachments attachments={message.attachments ?? []} />
          {error !== null && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          {(message.reactions?.length ?? 0) > 0 && (
            <ul className="reactions" role="list" aria-label="Reactions">
              {message.reactions?.map((reaction) => (
                <li key={reaction.emoji.id ?? reaction.emoji.name}>
                  <ReactionButton reaction={reaction} onToggle={react} />
                </li>
              ))}
            </ul>
          )}
          {picking && (
            <div className="reaction-picker" role="group" aria-label="Pick a reaction">
              {QUICK_REACTIONS.map((emoji, index) => (
                <button
                  key={emoji}
                  type="button"
                  // Opened from the keyboard, the picker takes the focus.
                  autoFocus={index === 0}
                  className="icon-button"
                  aria-label={`React with ${emoji}`}
                  onClick={() => {
                    const known = message.reactions?.find((reaction) => reaction.emoji.name === emoji);
                    react(emoji, known?.me ?? false);
                  }}
                >
                  {emoji}
                </button>
              ))}
            </div>
          )}
        </div>
      </div>
      <div className="message-actions" role="toolbar" aria-label="Message actions">
        <button type="button" className="icon-button" aria-label="Add reaction" aria-expanded={picking} onClick={() => { setPicking(!picking); }}>
          <Icon name="react" size={18} />
        </button>
        <button type="button" className="icon-button" aria-label="Reply" onClick={() => { onReply(message); }}>
          <Icon name="reply" size={18} />
        </button>
        {canPin && (
          <button
            type="button"
            className="icon-button"
            aria-label={message.pinned === true ? 'Unpin' : 'Pin'}
            aria-pressed={message.pinned === true}
            onClick={() => { session.setPinned(message.channel_id, message.id, message.pinned !== true).catch(fail); }}
          >
            <Icon name="pin" size={18} />
          </button>
        )}
        {mine && (
          <>
            <button type="button" className="icon-button" aria-label="Edit" onClick={() => { setEditing(true); }}>
              <Icon name="edit" size={18} />
            </button>
            <button type="button" className="icon-button danger" aria-label="Delete" onClick={() => { setConfirmDelete(true); }}>
              <Icon name="trash" size={18} />
            </button>
          </>
        )}
      </div>
      {confirmDelete && (
        <Dialog title="Delete message" onClose={() => { setConfirmDelete(false); }}>
          <p>Are you sure you want to delete this message?</p>
          <blockquote className="delete-preview">{message.content.slice(0, 300)}</blockquote>
          <div className="dialog-actions">
            <button type="button" onClick={() => { setConfirmDelete(false); }}>
              Cancel
            </button>
            <button
              type="button"
              className="danger primary"
              onClick={() => {
                setConfirmDelete(false);
                session.delete(message.channel_id, message.id).catch(fail);
              }}
            >
              Delete
            </button>
          </div>
        </Dialog>
      )}
    </article>
  );
}

function ReactionButton({ reaction, onToggle }: { reaction: Reaction; onToggle: (emoji: string, mine: boolean) => void }) {
  const emoji = reaction.emoji.name ?? '?';
  return (
    <button
      type="button"
      className={`reaction${reaction.me ? ' mine' : ''}`}
      aria-pressed={reaction.me}
      aria-label={`${emoji}, ${reaction.count} reaction${reaction.count === 1 ? '' : 's'}`}
      onClick={() => { onToggle(emoji, reaction.me); }}
    >
      <span aria-hidden="true">{emoji}</span> <span className="reaction-count">{reaction.count}</span>
    </button>
  );
}

/** Inline editing: Enter saves, Shift+Enter is a new line, Escape cancels. */
function EditBox({ initial, onSave, onCancel }: { initial: string; onSave: (content: string) => void; onCancel: () => void }) {
  const [value, setValue] = useState(initial);
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      if (value.trim() !== '') onSave(value.trim());
    } else if (event.key === 'Escape') {
      event.preventDefault();
      onCancel();
    }
  };
  return (
    <div className="edit-box">
      <textarea
        aria-label="Edit message"
        value={value}
        autoFocus
        maxLength={2000}
        onChange={(event) => { setValue(event.target.value); }}
        onKeyDown={onKeyDown}
      />
      <p className="muted small">Escape to cancel · Enter to save</p>
    </div>
  );
}
