// The main pane when no channel is open: a header like the chat's, and a message;
// at Home, the friends and the ways to a server.

import { useState, type ReactNode } from 'react';

import { Friends } from './Friends';
import { CreateServerDialog, JoinServerDialog } from './ServerDialogs';
import { PaneHeader, type PaneToggles } from './PaneHeader';

export function Notice({
  title,
  alert = false,
  children,
  ...toggles
}: PaneToggles & { title: string; alert?: boolean; children?: ReactNode }) {
  return (
    <section className="pane" aria-label={title}>
      <PaneHeader title={title} {...toggles} />
      <div className="notice" role={alert ? 'alert' : 'status'}>
        <h2>{title}</h2>
        {children !== undefined && <p>{children}</p>}
      </div>
    </section>
  );
}

export function HomeScreen(toggles: PaneToggles) {
  const [dialog, setDialog] = useState<'create' | 'join' | null>(null);
  return (
    <section className="pane" aria-label="Home">
      <PaneHeader title="Friends" {...toggles} />
      <div className="home-pane">
        <Friends />
        <div className="notice home-servers">
          <h2>Servers</h2>
          <p>Pick a server on the left, create your own, or join one with an invite.</p>
          <div className="notice-actions">
            <button type="button" className="primary" onClick={() => { setDialog('create'); }}>
              Create a server
            </button>
            <button type="button" onClick={() => { setDialog('join'); }}>
              Join with an invite
            </button>
          </div>
        </div>
      </div>
      {dialog === 'create' && <CreateServerDialog onClose={() => { setDialog(null); }} />}
      {dialog === 'join' && <JoinServerDialog onClose={() => { setDialog(null); }} />}
    </section>
  );
}
