import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';

import { describeError } from '../api/rest';
import type { Channel, Message } from '../api/types';
import { insertSuggestion, mentionQueryAt, suggestionsFor, type Suggestion } from '../state/autocomplete';
import { useSession, useStore } from '../state/hooks';
import { channelLabel, displayName } from '../state/selectors';
import { fileSize } from './fileSize';
import { Icon } from './Icon';

/** Discord's limit on message content. */
const MAX_CONTENT = 2000;
/** Files per message, as Discord allows. */
const MAX_FILES = 10;
/** The server's default upload limit (it answers 413 above its own setting); said
 * here at once rather than after the upload. */
const MAX_FILE_BYTES = 25 * 1024 * 1024;


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
  const [files, setFiles] = useState<File[]>([]);
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);
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

  function attach(chosen: FileList | null) {
    const added = [...(chosen ?? [])];
    const tooLarge = added.find((file) => file.size > MAX_FILE_BYTES);
    if (tooLarge !== undefined) {
      setError(`${tooLarge.name} is ${fileSize(tooLarge.size)}; files can be at most ${fileSize(MAX_FILE_BYTES)}.`);
      return;
    }
    setError(null);
    setFiles((current) => [...current, ...added].slice(0, MAX_FILES));
  }

  function send() {
    const content = draft.trim();
    if (content === '' && files.length === 0) return;
    const sending = files;
    setDraft('');
    setFiles([]);
    setError(null);
    onCancelReply();
    session.send(channel.id, content, replyTo?.id, sending).catch((caught: unknown) => {
      // Give the text and the files back so nothing is lost.
      setDraft((current) => (current === '' ? content : current));
      setFiles((current) => (current.length === 0 ? sending : current));
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
      {files.length > 0 && (
        <ul className="composer-files" aria-label="Files to send">
          {files.map((file, index) => (
            <li key={`${file.name}-${index}`}>
              <span className="composer-file-name">{file.name}</span>
              <span className="muted">{fileSize(file.size)}</span>
              <button
                type="button"
                className="icon-button"
                aria-label={`Remove ${file.name}`}
                onClick={() => { setFiles((current) => current.filter((_, at) => at !== index)); }}
              >
                <Icon name="close" size={14} />
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="composer-row">
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          aria-hidden="true"
          tabIndex={-1}
          onChange={(event) => {
            attach(event.target.files);
            // The same file can be chosen again after removing it.
            event.target.value = '';
          }}
        />
        <button type="button" className="icon-button attach" aria-label="Attach files" title="Attach files" onClick={() => picker.current?.click()}>
          <Icon name="plus" />
        </button>
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
          onPaste={(event) => {
            // Pasted images (a screenshot) become attachments.
            if (event.clipboardData.files.length === 0) return;
            event.preventDefault();
            attach(event.clipboardData.files);
          }}
        />
        <button type="submit" className="send" aria-label="Send" disabled={draft.trim() === '' && files.length === 0}>
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
