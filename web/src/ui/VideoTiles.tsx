// The call's video: the user's own camera and each other person's, one tile each,
// shown only while the video is live (a camera that is off sends nothing, and the
// browser marks that track muted). Audio plays elsewhere (voice/connection.ts), so
// the tiles are muted.

import { useEffect, useRef, useState } from 'react';

function liveVideo(stream: MediaStream): boolean {
  return stream.getVideoTracks().some((track) => track.readyState === 'live' && !track.muted);
}

export function VideoTile({ stream, label }: { stream: MediaStream; label: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  const [live, setLive] = useState(() => liveVideo(stream));
  useEffect(() => {
    const video = ref.current;
    if (video !== null) video.srcObject = stream;
    const update = () => {
      setLive(liveVideo(stream));
    };
    const watched = new Set<MediaStreamTrack>();
    const watch = () => {
      for (const track of stream.getVideoTracks()) {
        if (watched.has(track)) continue;
        watched.add(track);
        for (const event of ['mute', 'unmute', 'ended']) track.addEventListener(event, update);
      }
      update();
    };
    watch();
    stream.addEventListener('addtrack', watch);
    stream.addEventListener('removetrack', update);
    return () => {
      stream.removeEventListener('addtrack', watch);
      stream.removeEventListener('removetrack', update);
      for (const track of watched) for (const event of ['mute', 'unmute', 'ended']) track.removeEventListener(event, update);
    };
  }, [stream]);
  return (
    <figure className="video-tile" hidden={!live}>
      <video ref={ref} autoPlay playsInline muted aria-label={`${label}'s video`} />
      <figcaption>{label}</figcaption>
    </figure>
  );
}
