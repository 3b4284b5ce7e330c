// The signed-in screen: server rail, channel sidebar with the user panel, the open
// channel, and the member list. On narrow screens the navigation (rail + sidebar)
// is a drawer over the chat, and the member list a drawer from the right.

import { useEffect, useState } from 'react';

import { navigate, useRoute } from '../router';
import { useSession, useStore } from '../state/hooks';
import { AddBotScreen } from './AddBotScreen';
import { ChannelSidebar } from './ChannelSidebar';
import { ChatView } from './ChatView';
import { ConnectionBanner } from './ConnectionBanner';
import { DirectList } from './DirectList';
import { VoicePanel } from './VoicePanel';
import { InviteScreen } from './InviteScreen';
import { MemberList } from './MemberList';
import { ServerRail } from './ServerRail';
import { UserPanel } from './UserPanel';
import { HomeScreen, Notice } from './Notice';
import { useGuildRoute } from './useGuildRoute';

export function Layout({ onSignOut }: { onSignOut: () => void }) {
  const route = useRoute();
  const [navOpen, setNavOpen] = useState(false);
  const [membersOpen, setMembersOpen] = useState(false);
  const guildId = route.name === 'guild' ? route.guildId : null;
  const view = useGuildRoute(route);
  const ready = useStore((state) => state.ready);
  const session = useSession();

  // The channel on screen, while the page is visible: its mentions are read.
  const viewingId = view.kind === 'guild' || view.kind === 'dm' ? (view.channel?.id ?? null) : null;
  useEffect(() => {
    const update = () => {
      session.view(document.visibilityState === 'visible' ? viewingId : null);
    };
    update();
    document.addEventListener('visibilitychange', update);
    return () => {
      document.removeEventListener('visibilitychange', update);
    };
  }, [session, viewingId]);

  // A guild without a channel in the URL opens its first text channel.
  useEffect(() => {
    if (view.kind === 'guild' && route.name === 'guild' && route.channelId === null && view.channel !== undefined) {
      navigate({ name: 'guild', guildId: view.guild.id, channelId: view.channel.id }, { replace: true });
    }
  }, [view, route]);

  const closeNav = () => { setNavOpen(false); };

  // Escape closes an open drawer, as it closes dialogs.
  useEffect(() => {
    if (!navOpen && !membersOpen) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key !== 'Escape') return;
      setNavOpen(false);
      setMembersOpen(false);
    };
    window.addEventListener('keydown', onKey);
    return () => { window.removeEventListener('keydown', onKey); };
  }, [navOpen, membersOpen]);
  const toggles = {
    onOpenNav: () => { setNavOpen(true); },
    onToggleMembers: () => { setMembersOpen((open) => !open); },
    membersOpen,
  };

  let main;
  if (route.name === 'invite') main = <InviteScreen code={route.code} {...toggles} />;
  else if (route.name === 'add-bot') main = <AddBotScreen route={route} {...toggles} />;
  else if (!ready) main = <Notice title="Connecting…" {...toggles} />;
  else if (view.kind === 'home') main = <HomeScreen {...toggles} />;
  else if (view.kind === 'dm') {
    const focusId = route.name === 'dm' ? route.messageId : undefined;
    main =
      view.channel === undefined ? (
        <Notice title="No such conversation" alert {...toggles}>This direct message does not exist or is not yours.</Notice>
      ) : (
        <ChatView key={view.channel.id} channel={view.channel} focusId={focusId} {...toggles} />
      );
  }
  else if (view.kind === 'loading') main = <Notice title="Loading server…" {...toggles} />;
  else if (view.kind === 'forbidden') {
    main = (
      <Notice title="No access" alert {...toggles}>
        You are not a member of this server, or it does not exist. Ask a member for an invite.
      </Notice>
    );
  } else if (view.channel === undefined) {
    main = <Notice title="No text channel" alert {...toggles}>This channel does not exist or you cannot see it.</Notice>;
  } else {
    const focusId = route.name === 'guild' ? route.messageId : undefined;
    main = <ChatView key={view.channel.id} channel={view.channel} focusId={focusId} {...toggles} />;
  }

  const showMembers = view.kind === 'guild';
  return (
    <div className={`app${navOpen ? ' nav-open' : ''}${membersOpen ? ' members-open' : ''}${showMembers ? '' : ' no-members'}`}>
      <div className="nav-drawer">
        <ServerRail activeGuildId={guildId} onNavigate={closeNav} />
        <div className="sidebar">
          {view.kind === 'guild' ? (
            <ChannelSidebar guild={view.guild} activeChannelId={view.channel?.id ?? null} onNavigate={closeNav} />
          ) : (
            <DirectList activeChannelId={view.kind === 'dm' ? (view.channel?.id ?? null) : null} onNavigate={closeNav} />
          )}
          <VoicePanel />
          <UserPanel onSignOut={onSignOut} />
        </div>
      </div>
      <button type="button" className="scrim" aria-label="Close navigation" tabIndex={-1} onClick={closeNav} />
      <main className="main">
        <ConnectionBanner />
        {main}
      </main>
      {view.kind === 'guild' && <MemberList guildId={view.guild.id} />}
    </div>
  );
}
