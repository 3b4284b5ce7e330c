// One voice call: this browser's microphone to CloudCord's SFU, and everyone else's
// audio back, over one RTCPeerConnection. Signalling is WHIP-style (the SFU's
// signalling.rs): the offer is POSTed to the endpoint with the media token, and the
// answer comes back with the session's URL; later changes (someone starts or stops
// publishing) arrive as offers on the session's data channel, answered there, beside
// notices of who is speaking.

/** How the call stands. */
export type CallStatus = 'connecting' | 'connected' | 'failed';

export interface CallEvents {
  /** `problem` says what went wrong, or what works less than fully. */
  status(status: CallStatus, problem?: string): void;
  speaking(userId: string, speaking: boolean): void;
  /** The others' media, by user (the SFU names each stream after its publisher). */
  streams(streams: Record<string, MediaStream>): void;
}

/** The data channel the SFU negotiates on (its `SIGNALLING_LABEL`). */
const SIGNALLING_LABEL = 'cloudcord-signalling';

/** What the SFU says on the data channel; other types (newer SFUs) are ignored. */
type SignallingMessage =
  | { type: 'offer'; sdp: string }
  | { type: 'speaking'; user_id: string; speaking: boolean }
  | { type: string };

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class VoiceCall {
  private readonly pc: RTCPeerConnection;
  private microphone: MediaStream | null = null;
  /** The camera's m-line, negotiated from the start without a track: turning the
   * camera on or off swaps the track, with no renegotiation. */
  private camera: RTCRtpTransceiver | null = null;
  private cameraTrack: MediaStreamTrack | null = null;
  private readonly remote = new Map<string, MediaStream>();
  private sessionUrl: string | null = null;
  /** What works less than fully (listening only), said with every status. */
  private problem: string | undefined;
  /** The other people's audio, one element per received track (in the page, hidden,
   * so that it plays and can be inspected). */
  private readonly players = new Set<HTMLAudioElement>();
  private closed = false;

  constructor(
    /** The media token (`POST /channels/{id}/voice`'s answer). */
    private readonly token: string,
    /** Where the offer goes (`/sfu/sessions`), relative to the page. */
    private readonly endpoint: string,
    iceServers: RTCIceServer[],
    private readonly events: CallEvents,
  ) {
    this.pc = new RTCPeerConnection({ iceServers });
    this.pc.addEventListener('track', (event) => {
      const stream = event.streams[0] ?? new MediaStream([event.track]);
      this.play(stream);
      this.remote.set(stream.id, stream);
      this.events.streams(Object.fromEntries(this.remote));
      stream.addEventListener('removetrack', () => {
        if (stream.getTracks().length > 0) return;
        this.remote.delete(stream.id);
        this.events.streams(Object.fromEntries(this.remote));
      });
    });
    this.pc.addEventListener('connectionstatechange', () => {
      if (this.closed) return;
      const state = this.pc.connectionState;
      if (state === 'connected') this.events.status('connected', this.problem);
      else if (state === 'failed') this.events.status('failed', 'The connection to the voice server was lost.');
    });
  }

  /** TURN servers for the call, when the SFU has one (the signalling's `GET
   * …/ice-servers`, beside the sessions); without an answer, direct paths only. */
  static async iceServers(token: string, endpoint: string): Promise<RTCIceServer[]> {
    try {
      const url = new URL('ice-servers', new URL(endpoint, window.location.href));
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) return [];
      return ((await response.json()) as { ice_servers?: RTCIceServer[] }).ice_servers ?? [];
    } catch {
      return [];
    }
  }

  /** Sends the microphone (unless `muted`) and receives the others. Without a
   * microphone (none, or refused), the call only listens, and says so. */
  async start(muted: boolean): Promise<void> {
    try {
      this.microphone = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      for (const track of this.microphone.getAudioTracks()) {
        track.enabled = !muted;
        this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.microphone] });
      }
    } catch (error) {
      this.problem = `Listening only: the microphone is unavailable (${describe(error)}).`;
    }
    this.camera = this.pc.addTransceiver('video', {
      direction: 'sendonly',
      streams: [this.microphone ?? new MediaStream()],
    });
    const signalling = this.pc.createDataChannel(SIGNALLING_LABEL);
    signalling.addEventListener('message', (event: MessageEvent<string>) => {
      void this.onSignal(signalling, event.data);
    });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const response = await fetch(new URL(this.endpoint, window.location.href), {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${this.token}` },
      body: this.pc.localDescription?.sdp ?? '',
    });
    if (response.status !== 201) {
      const body = (await response.json().catch(() => null)) as { message?: string } | null;
      throw new Error(body?.message ?? `The voice server answered ${response.status}.`);
    }
    const location = response.headers.get('location');
    this.sessionUrl = location === null ? null : new URL(location, response.url).href;
    await this.pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    if (this.problem !== undefined) this.events.status('connecting', this.problem);
  }

  /** Mutes or unmutes the microphone (the SFU then forwards silence). */
  setMuted(muted: boolean): void {
    for (const track of this.microphone?.getAudioTracks() ?? []) track.enabled = !muted;
  }

  /** Stops or resumes playing the others' audio. */
  setDeafened(deafened: boolean): void {
    for (const player of this.players) player.muted = deafened;
  }

  /** Turns the camera on (answering its stream, for the self view) or off. */
  async setCamera(on: boolean): Promise<MediaStream | null> {
    this.cameraTrack?.stop();
    this.cameraTrack = null;
    if (!on) {
      await this.camera?.sender.replaceTrack(null);
      return null;
    }
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } });
    const [track] = stream.getVideoTracks();
    if (track === undefined) throw new Error('The camera gave no video.');
    this.cameraTrack = track;
    await this.camera?.sender.replaceTrack(track);
    return stream;
  }

  /** Ends the call: the SFU forgets the session, the microphone is released. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const track of this.microphone?.getTracks() ?? []) track.stop();
    this.cameraTrack?.stop();
    for (const player of this.players) {
      player.srcObject = null;
      player.remove();
    }
    this.players.clear();
    this.pc.close();
    if (this.sessionUrl !== null) {
      await fetch(this.sessionUrl, { method: 'DELETE', headers: { authorization: `Bearer ${this.token}` } }).catch(() => undefined);
    }
  }

  private play(stream: MediaStream): void {
    if ([...this.players].some((player) => player.srcObject === stream)) return;
    const player = document.createElement('audio');
    player.autoplay = true;
    player.hidden = true;
    player.dataset.voice = 'remote';
    player.srcObject = stream;
    document.body.append(player);
    this.players.add(player);
    void player.play().catch(() => undefined);
  }

  private async onSignal(channel: RTCDataChannel, raw: string): Promise<void> {
    let message: SignallingMessage;
    try {
      message = JSON.parse(raw) as SignallingMessage;
    } catch {
      return;
    }
    if ('speaking' in message) {
      this.events.speaking(message.user_id, message.speaking);
      return;
    }
    if (!('sdp' in message) || this.closed) return;
    await this.pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    channel.send(JSON.stringify({ type: 'answer', sdp: this.pc.localDescription?.sdp ?? '' }));
  }
}
