import type { ReactNode } from 'react';
import { Icon } from './Icon';
import { InboxButton } from './Inbox';

/** The drawers' toggles, handed to every main pane. */
export interface PaneToggles {
  onOpenNav: () => void;
  onToggleMembers: () => void;
  membersOpen: boolean;
}

export function PaneHeader({
  title,
  icon,
  topic,
  onOpenNav,
  onToggleMembers,
  membersOpen,
  withMembers = false,
  actions,
}: PaneToggles & {
  title: string;
  icon?: ReactNode;
  topic?: string | null;
  withMembers?: boolean;
  /** The pane's own buttons, before the notification area's. */
  actions?: ReactNode;
}) {
  return (
    <header className="pane-header">
      <button type="button" className="icon-button nav-toggle" aria-label="Open navigation" onClick={onOpenNav}>
        <Icon name="menu" />
      </button>
      <h1 className="pane-title">
        {icon}
        {title}
      </h1>
      {topic !== undefined && topic !== null && topic !== '' && <p className="pane-topic">{topic}</p>}
      {actions}
      <InboxButton />
      {withMembers && (
        <button
          type="button"
          className="icon-button members-toggle"
          aria-label="Member list"
          aria-pressed={membersOpen}
          onClick={onToggleMembers}
        >
          <Icon name="members" />
        </button>
      )}
    </header>
  );
}
