// The voice panel above the user panel. Voice needs the SFU, which is being built:
// until it lands, choosing a voice channel says so plainly instead of pretending to
// connect. The chosen channel is the store's, so any voice channel link opens it.

import { useStore, useSession } from '../state/hooks';
import { Icon } from './Icon';

export function VoicePanel() {
  const session = useSession();
  const channel = useStore((state) => (state.voiceChannel === null ? undefined : state.channels[state.voiceChannel]));
  if (channel === undefined) return null;
  return (
    <section className="voice-panel" aria-label="Voice">
      <div className="voice-panel-head">
        <Icon name="speaker" size={18} />
        <span className="voice-panel-channel">{channel.name ?? channel.id}</span>
        <button type="button" className="icon-button" aria-label="Close voice panel" onClick={() => { session.chooseVoice(null); }}>
          <Icon name="close" size={16} />
        </button>
      </div>
      <p className="voice-panel-status" role="status">
        Voice is unavailable
      </p>
      <p className="muted">
        CloudCord’s voice server is still being built, so you cannot join voice channels yet. Text chat works as usual.
      </p>
      <div className="voice-panel-controls" aria-label="Voice controls">
        <button type="button" className="icon-button" disabled aria-label="Microphone (unavailable)">
          <Icon name="mic" />
        </button>
      </div>
    </section>
  );
}
