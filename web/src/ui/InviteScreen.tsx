import { useState } from 'react';

import { describeError } from '../api/rest';
import { navigate } from '../router';
import { useSession } from '../state/hooks';
import { PaneHeader, type PaneToggles } from './PaneHeader';
import { joinByInvite } from './ServerDialogs';

/** `/invite/{code}`: asks before joining, since following a link should not join by itself. */
export function InviteScreen({ code, ...toggles }: PaneToggles & { code: string }) {
  const session = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section className="pane" aria-label="Invite">
      <PaneHeader title="Invite" {...toggles} />
      <div className="notice">
        <h2>You have been invited to a server</h2>
        <p>
          Invite code <code className="md-code">{code}</code>
        </p>
        {error !== null && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="notice-actions">
          <button
            type="button"
            className="primary"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              joinByInvite(session, code).catch((caught: unknown) => {
                setError(describeError(caught));
                setBusy(false);
              });
            }}
          >
            Accept invite
          </button>
          <button type="button" onClick={() => { navigate({ name: 'home' }); }}>
            Not now
          </button>
        </div>
      </div>
    </section>
  );
}
