// The voice panel above the user panel: the call's channel, how it stands (with what
// went wrong, plainly), the video tiles, who is in the channel and who is speaking,
// and the camera and hang-up buttons (mute and deafen are the user panel's).
// Choosing a voice channel joins it.

import { useMemo } from 'react';

import { useStore, useSession } from '../state/hooks';
import { voiceMembers } from '../state/selectors';
import { Icon } from './Icon';
import { VideoTile } from './VideoTiles';

const STATUS_TEXT = {
  joining: 'Joining…',
  connecting: 'Connecting…',
  connected: 'Voice connected',
  failed: 'Voice failed',
} as const;

export function VoicePanel() {
  const session = useSession();
  const call = useStore((state) => state.call);
  const channel = useStore((state) => (state.voiceChannel === null ? undefined : state.channels[state.voiceChannel]));
  const voiceStates = useStore((state) => state.voiceStates);
  const members = useStore((state) => state.members);
  const channels = useStore((state) => state.channels);
  const people = useMemo(
    () => (channel === undefined ? [] : voiceMembers({ voiceStates, members, channels }, channel.id)),
    [voiceStates, members, channels, channel],
  );
  if (channel === undefined) return null;
  const name = channel.name ?? channel.id;
  const here = call?.channelId === channel.id ? call : null;
  return (
    <section className="voice-panel" aria-label="Voice">
      <div className="voice-panel-head">
        <Icon name="speaker" size={18} />
        <span className="voice-panel-channel">{name}</span>
        <button type="button" className="icon-button" aria-label="Close voice panel" onClick={() => { session.chooseVoice(null); }}>
          <Icon name="close" size={16} />
        </button>
      </div>
      <p className={`voice-panel-status ${here?.status ?? 'idle'}`} role="status">
        {here === null ? 'Not connected' : STATUS_TEXT[here.status]}
      </p>
      {here?.problem != null && <p className="muted">{here.problem}</p>}
      {here !== null && (
        <div className="video-tiles">
          {here.camera !== null && <VideoTile stream={here.camera} label="You" />}
          {Object.entries(here.streams).map(([userId, stream]) => (
            <VideoTile key={userId} stream={stream} label={people.find((person) => person.id === userId)?.name ?? userId} />
          ))}
        </div>
      )}
      {people.length > 0 && (
        <ul className="voice-people" aria-label={`In ${name}`}>
          {people.map(({ id, name: who, muted }) => (
            <li key={id} className={here?.speaking[id] === true ? 'speaking' : undefined}>
              {who}
              {muted && <span className="muted"> (muted)</span>}
            </li>
          ))}
        </ul>
      )}
      <div className="voice-panel-controls" aria-label="Voice controls">
        {here === null || here.status === 'failed' ? (
          <button type="button" onClick={() => void session.joinVoice(channel.id)}>
            {here === null ? 'Join voice' : 'Try again'}
          </button>
        ) : (
          <button
            type="button"
            className="icon-button"
            aria-pressed={here.camera !== null}
            aria-label={here.camera === null ? 'Turn on camera' : 'Turn off camera'}
            title={here.camera === null ? 'Turn on camera' : 'Turn off camera'}
            onClick={() => void session.toggleCamera()}
          >
            <Icon name={here.camera === null ? 'cameraOff' : 'camera'} />
          </button>
        )}
        {here !== null && (
          <button type="button" className="icon-button danger" aria-label="Disconnect" title="Disconnect" onClick={() => void session.leaveVoice()}>
            <Icon name="hangUp" />
          </button>
        )}
      </div>
    </section>
  );
}
