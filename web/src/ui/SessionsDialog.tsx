// The user's signed-in devices, each one's last use, and ending the others.

import { useCallback, useEffect, useState } from 'react';

import { describeError } from '../api/rest';
import type { UserSession } from '../api/types';
import { deviceName, orderSessions } from '../auth/sessions';
import { useSession } from '../state/hooks';
import { Dialog } from './Dialog';

function lastUsed(session: UserSession): string {
  if (session.current) return 'This device';
  const when = session.approx_last_used_time;
  return when === null ? 'Last used: unknown' : `Last used ${new Date(when).toLocaleString()}`;
}

export function SessionsDialog({ onClose }: { onClose: () => void }) {
  const { api } = useSession();
  const [sessions, setSessions] = useState<UserSession[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => {
    api.sessions().then(
      (answer) => {
        setSessions(orderSessions(answer.user_sessions));
      },
      (caught: unknown) => {
        setError(describeError(caught));
      },
    );
  }, [api]);
  useEffect(load, [load]);

  const end = (hashes: string[]) => {
    setError(null);
    api.endSessions(hashes).then(load, (caught: unknown) => {
      setError(describeError(caught));
    });
  };
  const others = (sessions ?? []).filter((session) => !session.current).map((session) => session.id_hash);

  return (
    <Dialog title="Devices" onClose={onClose}>
      <p className="muted">Everywhere you are signed in. Sign out of a device you do not recognise.</p>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {sessions === null && error === null && <p className="muted">Loading…</p>}
      {sessions !== null && (
        <ul className="dialog-list" aria-label="Signed-in devices">
          {sessions.map((session) => (
            <li key={session.id_hash}>
              <div>
                <div className="dialog-list-title">{deviceName(session)}</div>
                <div className="muted">{lastUsed(session)}</div>
              </div>
              {!session.current && (
                <button type="button" onClick={() => { end([session.id_hash]); }}>
                  Sign out
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <div className="dialog-actions">
        {others.length > 0 && (
          <button type="button" className="danger" onClick={() => { end(others); }}>
            Sign out all other devices
          </button>
        )}
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}
