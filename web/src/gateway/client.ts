// One gateway connection for the signed-in user, kept alive across drops.
//
// Hello → Identify (or Resume when a session exists) → READY/RESUMED, heartbeats at
// Hello's interval (the first one jittered, as Discord asks), and a missing ACK
// treated as a dead connection. After any drop it reconnects with exponential
// backoff and resumes with the last `s`, so the server replays exactly what was
// missed; a dispatch whose `s` it has already seen is dropped, so an overlapping
// replay is never applied twice. Close codes decide between resume, a fresh
// Identify, and giving up (see protocol.ts).
//
// Sans-DOM: the socket comes from a factory and time from the global timers, so the
// tests drive it with fake sockets and fake timers.

import type { ChosenStatus } from '../api/types';
import { closeAction, gatewayUrl, Op, type Payload } from './protocol';

/** The part of `WebSocket` the client uses. */
export interface SocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
}

export type GatewayStatus =
  /** Connecting or handshaking, for the first time. */
  | 'connecting'
  /** READY or RESUMED: dispatches flow. */
  | 'connected'
  /** The connection dropped; a reconnect is scheduled or under way. */
  | 'reconnecting'
  /** The browser says it is offline; reconnects when it comes back. */
  | 'offline'
  /** Stopped, by `stop()` or a fatal close code. */
  | 'closed';

export interface GatewayOptions {
  /** `ws://host/gateway`; the query is added here. */
  url: string;
  /** The current access token, read at each Identify and Resume (it is renewed). */
  token: () => string;
  intents: number;
  createSocket: (url: string) => SocketLike;
  /** Every dispatch, in order, once (READY and RESUMED included). */
  onDispatch: (event: string, data: unknown) => void;
  onStatus?: (status: GatewayStatus) => void;
  /** The server refused for good (4004 bad token, 4013/4014 intents…). */
  onFatal?: (code: number) => void;
  /** 0 ≤ x < 1; jitter for the first heartbeat and the backoff. */
  random?: () => number;
}

/** Client-side close code for a connection we drop ourselves but mean to resume
 * (Discord: closing with 1000/1001 ends the session; any other code keeps it). */
const RESUMABLE_CLOSE = 4900;
/** Reconnect delays grow from this… */
const BACKOFF_BASE_MS = 1000;
/** …to at most this. */
const BACKOFF_MAX_MS = 30_000;

interface Ready {
  session_id: string;
  resume_gateway_url?: string;
}

export class GatewayClient {
  private socket: SocketLike | null = null;
  private sessionId: string | null = null;
  private resumeUrl: string | null = null;
  private seq: number | null = null;
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private awaitingAck = false;
  private failures = 0;
  private status: GatewayStatus = 'closed';
  private presence: ChosenStatus = 'online';
  private readonly random: () => number;

  constructor(private readonly options: GatewayOptions) {
    this.random = options.random ?? Math.random;
  }

  /** Connects; from now on the client keeps itself connected until `stop()`. */
  start(): void {
    this.setStatus('connecting');
    this.connect();
  }

  /** Closes for good, ending the session on the server (close code 1000). */
  stop(): void {
    this.clearTimers();
    this.setStatus('closed');
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000, 'signed out');
  }

  /** The browser went offline: drop the connection now (its socket would only time
   * out later) and wait for `online()`. */
  offline(): void {
    if (this.status === 'closed') return;
    this.clearTimers();
    this.dropSocket();
    this.setStatus('offline');
  }

  /** The browser is back online: resume at once, without waiting out a backoff. */
  online(): void {
    if (this.status !== 'offline' && this.status !== 'reconnecting') return;
    this.clearTimers();
    this.failures = 0;
    this.connect();
  }

  /** Op 3: the user's chosen status; also sent in every later Identify. */
  setPresence(status: ChosenStatus): void {
    this.presence = status;
    if (this.status === 'connected') this.send(Op.PresenceUpdate, this.presencePayload());
  }

  /** Op 4: the user's voice state in a guild (here: their mute and deafen during a
   * call, which guild members then see); not sent while disconnected. */
  updateVoiceState(state: { guild_id: string; channel_id: string | null; self_mute: boolean; self_deaf: boolean }): void {
    if (this.status === 'connected') this.send(Op.VoiceStateUpdate, state);
  }

  private presencePayload() {
    return { since: null, activities: [], status: this.presence, afk: false };
  }

  private setStatus(status: GatewayStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.options.onStatus?.(status);
  }

  private connect(): void {
    this.dropSocket();
    const base = this.sessionId !== null && this.resumeUrl !== null ? this.resumeUrl : this.options.url;
    const socket = this.options.createSocket(gatewayUrl(base));
    this.socket = socket;
    socket.onmessage = (event) => {
      const data: unknown = event.data;
      if (this.socket === socket && typeof data === 'string') this.receive(data);
    };
    socket.onclose = (event) => {
      if (this.socket === socket) this.closed(event.code);
    };
  }

  /** Detaches and closes the current socket without ending the session. */
  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return;
    socket.onmessage = null;
    socket.onclose = null;
    socket.close(RESUMABLE_CLOSE, 'reconnecting');
  }

  private send(op: number, d: unknown): void {
    this.socket?.send(JSON.stringify({ op, d }));
  }

  private receive(text: string): void {
    let payload: Payload;
    try {
      payload = JSON.parse(text) as Payload;
    } catch {
      return; // Not JSON: nothing the protocol sends; ignore it.
    }
    switch (payload.op) {
      case Op.Hello:
        this.hello((payload.d as { heartbeat_interval: number }).heartbeat_interval);
        break;
      case Op.HeartbeatAck:
        this.awaitingAck = false;
        break;
      case Op.Heartbeat:
        // The server asks for a heartbeat now; the schedule stays as it is.
        this.send(Op.Heartbeat, this.seq);
        break;
      case Op.Reconnect:
        this.reconnect('resume');
        break;
      case Op.InvalidSession:
        this.invalidSession(payload.d === true);
        break;
      case Op.Dispatch:
        this.dispatch(payload);
        break;
    }
  }

  private hello(interval: number): void {
    this.awaitingAck = false;
    const beat = (delay: number) => {
      this.heartbeatTimer = setTimeout(() => {
        if (this.awaitingAck) {
          // No ACK for the last heartbeat: the connection is a zombie.
          this.reconnect('resume');
          return;
        }
        this.awaitingAck = true;
        this.send(Op.Heartbeat, this.seq);
        beat(interval);
      }, delay);
    };
    beat(interval * this.random());
    this.handshake();
  }

  private handshake(): void {
    if (this.sessionId !== null) {
      this.send(Op.Resume, { token: this.options.token(), session_id: this.sessionId, seq: this.seq });
    } else {
      this.send(Op.Identify, {
        token: this.options.token(),
        intents: this.options.intents,
        properties: { os: 'web', browser: 'CloudCord Web', device: 'CloudCord Web' },
        presence: this.presencePayload(),
      });
    }
  }

  private invalidSession(resumable: boolean): void {
    if (!resumable) this.forgetSession();
    // Discord asks for a random 1–5 s wait before trying again.
    const delay = 1000 + 4000 * this.random();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.handshake();
    }, delay);
  }

  private dispatch(payload: Payload): void {
    const seq = payload.s ?? null;
    if (seq !== null) {
      // A replay may overlap what already arrived: apply each `s` once.
      if (this.seq !== null && seq <= this.seq) return;
      this.seq = seq;
    }
    const event = payload.t ?? '';
    if (event === 'READY') {
      const ready = payload.d as Ready;
      this.sessionId = ready.session_id;
      this.resumeUrl = ready.resume_gateway_url ?? null;
    }
    if (event === 'READY' || event === 'RESUMED') {
      this.failures = 0;
      this.setStatus('connected');
    }
    this.options.onDispatch(event, payload.d);
  }

  private forgetSession(): void {
    this.sessionId = null;
    this.resumeUrl = null;
    this.seq = null;
  }

  private closed(code: number): void {
    this.socket = null;
    this.clearTimers();
    const action = closeAction(code);
    if (action === 'fatal') {
      this.forgetSession();
      this.setStatus('closed');
      this.options.onFatal?.(code);
      return;
    }
    this.reconnect(action);
  }

  /** Drops the connection and connects again after the backoff. */
  private reconnect(action: 'resume' | 'identify'): void {
    this.clearTimers();
    this.dropSocket();
    if (action === 'identify') this.forgetSession();
    this.setStatus('reconnecting');
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.failures);
    this.failures += 1;
    // "Equal jitter": at least half the ceiling, so retries spread but never storm.
    const delay = ceiling / 2 + (ceiling / 2) * this.random();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  private clearTimers(): void {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.heartbeatTimer = null;
    this.reconnectTimer = null;
  }
}
