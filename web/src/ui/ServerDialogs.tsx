// Creating a server, joining one by invite, and inviting people.

import { useEffect, useId, useState, type SubmitEvent } from 'react';

import { describeError } from '../api/rest';
import type { Snowflake } from '../api/types';
import { navigate } from '../router';
import { useSession } from '../state/hooks';
import { Dialog } from './Dialog';
import { formText } from './formText';

/** A form dialog whose submit runs `action`, showing its error if it fails. */
function FormDialog({
  title,
  label,
  placeholder,
  submitLabel,
  action,
  onClose,
}: {
  title: string;
  label: string;
  placeholder: string;
  submitLabel: string;
  action: (value: string) => Promise<void>;
  onClose: () => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const inputId = useId();

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const value = formText(new FormData(event.currentTarget), 'value').trim();
    if (value === '') return;
    setBusy(true);
    setError(null);
    try {
      await action(value);
      onClose();
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  }

  return (
    <Dialog title={title} onClose={onClose}>
      <form onSubmit={(event) => void submit(event)}>
        <label htmlFor={inputId}>{label}</label>
        <input id={inputId} name="value" placeholder={placeholder} required maxLength={200} autoFocus />
        {error !== null && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {submitLabel}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function CreateServerDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  return (
    <FormDialog
      title="Create a server"
      label="Server name"
      placeholder="My server"
      submitLabel="Create"
      onClose={onClose}
      action={async (name) => {
        const guild = await session.api.createGuild(name);
        await session.waitForGuild(guild.id);
        navigate({ name: 'guild', guildId: guild.id, channelId: null });
      }}
    />
  );
}

/** Takes a bare code or a whole invite link (`…/invite/CODE`). */
export function inviteCode(input: string): string {
  const match = /\/invite\/([^/?#\s]+)/.exec(input);
  return match?.[1] ?? input.trim();
}

/** Joins by invite code and opens the guild once it has arrived. */
export async function joinByInvite(session: ReturnType<typeof useSession>, code: string): Promise<void> {
  const invite = await session.api.acceptInvite(inviteCode(code));
  const guildId = invite.guild?.id;
  if (guildId === undefined) return;
  await session.waitForGuild(guildId);
  navigate({ name: 'guild', guildId, channelId: invite.channel?.id ?? null });
}

export function JoinServerDialog({ onClose }: { onClose: () => void }) {
  const session = useSession();
  return (
    <FormDialog
      title="Join a server"
      label="Invite link or code"
      placeholder="https://…/invite/AbCdEf or AbCdEf"
      submitLabel="Join"
      onClose={onClose}
      action={(code) => joinByInvite(session, code)}
    />
  );
}

export function InviteDialog({ channelId, onClose }: { channelId: Snowflake; onClose: () => void }) {
  const session = useSession();
  const [code, setCode] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    session.api.createInvite(channelId).then(
      (invite) => { setCode(invite.code); },
      (caught: unknown) => { setError(describeError(caught)); },
    );
  }, [session, channelId]);
  const link = code === null ? '' : `${window.location.origin}/invite/${code}`;
  return (
    <Dialog title="Invite people" onClose={onClose}>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {error === null && code === null && <p className="muted">Creating an invite…</p>}
      {code !== null && (
        <>
          <p className="muted">Share this link or code; it is valid for 24 hours.</p>
          <label htmlFor="invite-link">Invite link</label>
          <input id="invite-link" readOnly value={link} data-invite-code={code} onFocus={(event) => { event.currentTarget.select(); }} />
          <p>
            Code: <code className="md-code" data-testid="invite-code">{code}</code>
          </p>
        </>
      )}
      <div className="dialog-actions">
        {code !== null && (
          <button
            type="button"
            onClick={() => {
              void navigator.clipboard.writeText(link).then(() => { setCopied(true); });
            }}
          >
            {copied ? 'Copied' : 'Copy link'}
          </button>
        )}
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}
