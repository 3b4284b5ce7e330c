import { useState } from 'react';

import { ChannelType, type Channel, type Message } from '../api/types';
import { directName } from '../state/selectors';
import { Composer } from './Composer';
import { MessageList } from './MessageList';
import { PaneHeader, type PaneToggles } from './PaneHeader';
import { PinsButton } from './PinnedMessages';
import { TypingIndicator } from './TypingIndicator';
import { Icon } from './Icon';

/** One text channel: its history, who is typing, and the composer. */
export function ChatView({
  channel,
  focusId,
  ...toggles
}: PaneToggles & { channel: Channel; /** A message to show (a jump from a notification). */ focusId: string | undefined }) {
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const direct = channel.type === ChannelType.DM;
  const name = direct ? directName(channel) : (channel.name ?? channel.id);
  return (
    <section className="pane chat" aria-label={direct ? `@${name}` : `#${name}`}>
      <PaneHeader
        title={name}
        icon={
          <span className="channel-icon">
            <Icon name={direct ? 'at' : 'hash'} />
          </span>
        }
        topic={channel.topic ?? null}
        withMembers={!direct}
        actions={<PinsButton channel={channel} />}
        {...toggles}
      />
      <MessageList channel={channel} focusId={focusId} onReply={setReplyTo} />
      <TypingIndicator channelId={channel.id} guildId={channel.guild_id} />
      <Composer channel={channel} replyTo={replyTo} onCancelReply={() => { setReplyTo(null); }} />
    </section>
  );
}
