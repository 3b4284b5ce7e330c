import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';

import { describeError } from '../api/rest';
import type { Channel, Message } from '../api/types';
import { useSession } from '../state/hooks';
import { channelLabel, displayName } from '../state/selectors';
import { Icon } from './Icon';

/** Discord's limit on message content. */
const MAX_CONTENT = 2000;

export function Composer({
  channel,
  replyTo,
  onCancelReply,
}: {
  channel: Channel;
  replyTo: Message | null;
  onCancelReply: () => void;
}) {
  const session = useSession();
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const errorId = useId();
  const label = channelLabel(channel);

  // Choosing "Reply" moves the keyboard to where the reply is written.
  useEffect(() => {
    if (replyTo !== null) input.current?.focus();
  }, [replyTo]);

  function send() {
    const content = draft.trim();
    if (content === '') return;
    setDraft('');
    setError(null);
    onCancelReply();
    session.send(channel.id, content, replyTo?.id).catch((caught: unknown) => {
      // Give the text back so nothing typed is lost.
      setDraft((current) => (current === '' ? content : current));
      setError(describeError(caught));
    });
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      send();
    } else if (event.key === 'Escape' && replyTo !== null) {
      onCancelReply();
    }
  }

  return (
    <form
      className="composer"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      {replyTo !== null && (
        <div className="composer-reply">
          <span>
            Replying to <strong>{displayName(replyTo.author)}</strong>
          </span>
          <button type="button" className="icon-button" aria-label="Cancel reply" onClick={onCancelReply}>
            <Icon name="close" size={16} />
          </button>
        </div>
      )}
      {error !== null && (
        <p id={errorId} className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="composer-row">
        <textarea
          ref={input}
          className="composer-input"
          aria-label={`Message ${label}`}
          aria-describedby={error === null ? undefined : errorId}
          placeholder={`Message ${label}`}
          rows={1}
          maxLength={MAX_CONTENT}
          value={draft}
          onChange={(event) => {
            setDraft(event.target.value);
            if (event.target.value !== '') session.typing(channel.id);
          }}
          onKeyDown={onKeyDown}
        />
        <button type="submit" className="send" aria-label="Send" disabled={draft.trim() === ''}>
          <Icon name="send" />
        </button>
      </div>
    </form>
  );
}
