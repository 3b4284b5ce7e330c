import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';

import { describeError } from '../api/rest';
import type { Channel, Message } from '../api/types';
import { insertSuggestion, mentionQueryAt, suggestionsFor, type Suggestion } from '../state/autocomplete';
import { useSession, useStore } from '../state/hooks';
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
  const [caret, setCaret] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const errorId = useId();
  const listId = useId();
  const label = channelLabel(channel);
  const mention = useMentionSuggestions(channel, draft, caret);
  const [active, setActive] = useState(0);
  /** Where the suggestions were dismissed (Escape), until another mention starts. */
  const [dismissed, setDismissed] = useState<number | null>(null);
  const open = mention !== null && mention.suggestions.length > 0 && dismissed !== mention.query.start;
  const activeIndex = open ? Math.min(active, mention.suggestions.length - 1) : -1;
  /** Where the caret goes after a suggestion was inserted. */
  const placeCaret = useRef<number | null>(null);

  useLayoutEffect(() => {
    const element = input.current;
    if (placeCaret.current === null || element === null) return;
    element.setSelectionRange(placeCaret.current, placeCaret.current);
    placeCaret.current = null;
  }, [draft]);

  function choose(suggestion: Suggestion) {
    if (mention === null) return;
    const next = insertSuggestion(draft, mention.query, suggestion);
    placeCaret.current = next.caret;
    setDraft(next.text);
    setCaret(next.caret);
  }

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
    if (open && !event.nativeEvent.isComposing) {
      const count = mention.suggestions.length;
      const chosen = mention.suggestions[activeIndex];
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        setActive((activeIndex + (event.key === 'ArrowDown' ? 1 : count - 1)) % count);
        return;
      }
      if ((event.key === 'Enter' || event.key === 'Tab') && !event.shiftKey && chosen !== undefined) {
        event.preventDefault();
        choose(chosen);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        setDismissed(mention.query.start);
        return;
      }
    }
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
      {open && (
        <ul id={listId} className="suggestions" role="listbox" aria-label={mention.query.trigger === '#' ? 'Channels' : 'Members'}>
          {mention.suggestions.map((suggestion, index) => (
            <li
              key={suggestion.key}
              id={`${listId}-${index}`}
              role="option"
              aria-selected={index === activeIndex}
              className={index === activeIndex ? 'active' : undefined}
              // Keep the keyboard in the composer.
              onMouseDown={(event) => { event.preventDefault(); }}
              onClick={() => { choose(suggestion); }}
            >
              <span>{suggestion.label}</span>
              {suggestion.detail !== undefined && <span className="muted">{suggestion.detail}</span>}
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <textarea
          ref={input}
          className="composer-input"
          aria-label={`Message ${label}`}
          aria-describedby={error === null ? undefined : errorId}
          aria-autocomplete="list"
          aria-controls={open ? listId : undefined}
          aria-activedescendant={open ? `${listId}-${activeIndex}` : undefined}
          placeholder={`Message ${label}`}
          rows={1}
          maxLength={MAX_CONTENT}
          value={draft}
          onChange={(event) => {
            setDraft(event.target.value);
            setCaret(event.target.selectionStart);
            setActive(0);
            // The dismissed mention is gone: the next one opens the list again.
            if (mentionQueryAt(event.target.value, event.target.selectionStart) === null) setDismissed(null);
            if (event.target.value !== '') session.typing(channel.id);
          }}
          onKeyDown={onKeyDown}
          onSelect={(event) => { setCaret(event.currentTarget.selectionStart); }}
        />
        <button type="submit" className="send" aria-label="Send" disabled={draft.trim() === ''}>
          <Icon name="send" />
        </button>
      </div>
    </form>
  );
}

/** The mention typed at the caret and what it may become, from the store. */
function useMentionSuggestions(channel: Channel, draft: string, caret: number) {
  const guildId = channel.guild_id;
  const members = useStore((state) => (guildId === undefined ? undefined : state.members[guildId]));
  const roles = useStore((state) => (guildId === undefined ? undefined : state.roles[guildId]));
  const channels = useStore((state) => state.channels);
  return useMemo(() => {
    const query = mentionQueryAt(draft, caret);
    if (query === null) return null;
    const scope = {
      guildId,
      members: Object.values(members ?? {}),
      roles: Object.values(roles ?? {}),
      channels: Object.values(channels),
      recipients: channel.recipients ?? [],
    };
    return { query, suggestions: suggestionsFor(query, scope) };
  }, [draft, caret, guildId, members, roles, channels, channel.recipients]);
}
