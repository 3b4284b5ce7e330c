import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { GatewayClient, type GatewayStatus, type SocketLike } from './client';
import { Op } from './protocol';

/** A socket the test plays the server of. */
class FakeSocket implements SocketLike {
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  readonly sent: { op: number; d: unknown }[] = [];
  closedWith: number | null = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as { op: number; d: unknown });
  }

  close(code?: number): void {
    this.closedWith = code ?? 1000;
  }

  /** The server sends a payload. */
  receive(payload: object): void {
    this.onmessage?.({ data: JSON.stringify(payload) } as MessageEvent);
  }

  /** The server (or the network) ends the connection. */
  drop(code: number): void {
    this.onclose?.({ code, reason: '' } as CloseEvent);
  }

  ops(op: number) {
    return this.sent.filter((payload) => payload.op === op);
  }
}

const HEARTBEAT_MS = 40_000;

function setup() {
  const sockets: FakeSocket[] = [];
  const dispatches: [string, unknown][] = [];
  const statuses: GatewayStatus[] = [];
  const fatal: number[] = [];
  const client = new GatewayClient({
    url: 'ws://chat.test/gateway',
    token: () => 'token-1',
    intents: 513,
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    onDispatch: (event, data) => dispatches.push([event, data]),
    onStatus: (status) => statuses.push(status),
    onFatal: (code) => fatal.push(code),
    // Jitter at its midpoint: the first heartbeat after half an interval.
    random: () => 0.5,
  });
  const latest = () => {
    const socket = sockets.at(-1);
    if (socket === undefined) throw new Error('no socket yet');
    return socket;
  };
  /** Hello, Identify, READY on the latest socket; returns it. */
  const handshake = (sessionId = 'session-1') => {
    const socket = latest();
    socket.receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    socket.receive({
      op: Op.Dispatch,
      t: 'READY',
      s: 1,
      d: { session_id: sessionId, resume_gateway_url: 'ws://resume.test/gateway', user: { id: '1' }, guilds: [] },
    });
    return socket;
  };
  return { client, sockets, dispatches, statuses, fatal, latest, handshake };
}

function message(socket: FakeSocket, s: number, id: string) {
  socket.receive({ op: Op.Dispatch, t: 'MESSAGE_CREATE', s, d: { id } });
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('GatewayClient', () => {
  it('identifies after Hello with the token, intents and chosen presence', () => {
    const { client, latest } = setup();
    client.setPresence('dnd');
    client.start();
    expect(latest().url).toBe('ws://chat.test/gateway/?v=10&encoding=json');
    latest().receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    const [identify] = latest().ops(Op.Identify);
    expect(identify?.d).toMatchObject({ token: 'token-1', intents: 513, presence: { status: 'dnd' } });
  });

  it('heartbeats with the last sequence, the first one jittered', () => {
    const { client, handshake } = setup();
    client.start();
    const socket = handshake();
    message(socket, 2, 'm1');
    vi.advanceTimersByTime(HEARTBEAT_MS / 2 - 1);
    expect(socket.ops(Op.Heartbeat)).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(socket.ops(Op.Heartbeat)).toEqual([{ op: Op.Heartbeat, d: 2 }]);
    socket.receive({ op: Op.HeartbeatAck });
    vi.advanceTimersByTime(HEARTBEAT_MS);
    expect(socket.ops(Op.Heartbeat)).toHaveLength(2);
  });

  it('answers a heartbeat request at once', () => {
    const { client, handshake } = setup();
    client.start();
    const socket = handshake();
    socket.receive({ op: Op.Heartbeat, d: null });
    expect(socket.ops(Op.Heartbeat)).toEqual([{ op: Op.Heartbeat, d: 1 }]);
  });

  it('treats a missing ACK as a dead connection and resumes on a new one', () => {
    const { client, sockets, handshake, statuses } = setup();
    client.start();
    const socket = handshake();
    vi.advanceTimersByTime(HEARTBEAT_MS / 2); // heartbeat sent, never acknowledged
    vi.advanceTimersByTime(HEARTBEAT_MS);
    expect(socket.closedWith).toBe(4900); // not 1000: the session must survive
    expect(statuses.at(-1)).toBe('reconnecting');
    vi.advanceTimersByTime(1000);
    expect(sockets).toHaveLength(2);
    const next = sockets[1] as FakeSocket;
    expect(next.url).toBe('ws://resume.test/gateway/?v=10&encoding=json');
    next.receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    expect(next.ops(Op.Resume)).toEqual([
      { op: Op.Resume, d: { token: 'token-1', session_id: 'session-1', seq: 1 } },
    ]);
  });

  it('resumes with the last seq after a drop and applies each replayed dispatch once', () => {
    const { client, sockets, handshake, dispatches, statuses } = setup();
    client.start();
    const socket = handshake();
    message(socket, 2, 'm1');
    message(socket, 3, 'm2');
    socket.drop(1006);
    vi.advanceTimersByTime(1000);
    const next = sockets[1] as FakeSocket;
    next.receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    expect(next.ops(Op.Resume)[0]?.d).toMatchObject({ seq: 3 });
    // The server replays from an earlier point than needed: 3 was seen already.
    message(next, 3, 'm2');
    message(next, 4, 'm3');
    next.receive({ op: Op.Dispatch, t: 'RESUMED', s: 5, d: null });
    expect(dispatches.map(([event, data]) => (event === 'MESSAGE_CREATE' ? (data as { id: string }).id : event))).toEqual([
      'READY',
      'm1',
      'm2',
      'm3',
      'RESUMED',
    ]);
    expect(statuses.at(-1)).toBe('connected');
  });

  it('backs off exponentially while reconnects fail, and resets after success', () => {
    const { client, sockets, handshake } = setup();
    client.start();
    handshake().drop(1006);
    const delays: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const before = sockets.length;
      let waited = 0;
      while (sockets.length === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
      }
      delays.push(waited);
      sockets.at(-1)?.drop(1006); // the server is still down
    }
    // random() = 0.5: three quarters of 1 s, 2 s, 4 s, 8 s.
    expect(delays).toEqual([800, 1500, 3000, 6000]);
    vi.advanceTimersByTime(20_000);
    const resumed = sockets.at(-1) as FakeSocket;
    resumed.receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    resumed.receive({ op: Op.Dispatch, t: 'RESUMED', s: 2, d: null });
    resumed.drop(1006);
    const before = sockets.length;
    vi.advanceTimersByTime(800);
    expect(sockets.length).toBe(before + 1);
  });

  it('identifies anew when the session cannot be resumed', () => {
    const { client, sockets, handshake } = setup();
    client.start();
    handshake().drop(4009); // session timed out
    vi.advanceTimersByTime(1000);
    const next = sockets[1] as FakeSocket;
    expect(next.url).toBe('ws://chat.test/gateway/?v=10&encoding=json');
    next.receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    expect(next.ops(Op.Identify)).toHaveLength(1);
    expect(next.ops(Op.Resume)).toHaveLength(0);
  });

  it('identifies on the same connection after Invalid Session (not resumable)', () => {
    const { client, handshake, dispatches } = setup();
    client.start();
    const socket = handshake();
    message(socket, 2, 'm1');
    socket.receive({ op: Op.InvalidSession, d: false });
    expect(socket.ops(Op.Identify)).toHaveLength(1);
    vi.advanceTimersByTime(3000); // 1–5 s, midpoint
    expect(socket.ops(Op.Identify)).toHaveLength(2);
    // The new session numbers from 1 again; nothing is dropped as a duplicate.
    socket.receive({ op: Op.Dispatch, t: 'READY', s: 1, d: { session_id: 'session-2', user: { id: '1' }, guilds: [] } });
    message(socket, 2, 'm9');
    expect(dispatches.map(([event]) => event)).toEqual(['READY', 'MESSAGE_CREATE', 'READY', 'MESSAGE_CREATE']);
  });

  it('reconnects when the server asks (op 7) and resumes', () => {
    const { client, sockets, handshake } = setup();
    client.start();
    const socket = handshake();
    socket.receive({ op: Op.Reconnect, d: null });
    expect(socket.closedWith).toBe(4900);
    vi.advanceTimersByTime(1000);
    const next = sockets[1] as FakeSocket;
    next.receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    expect(next.ops(Op.Resume)).toHaveLength(1);
  });

  it('stops for good on an authentication failure', () => {
    const { client, sockets, handshake, fatal, statuses } = setup();
    client.start();
    handshake().drop(4004);
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
    expect(fatal).toEqual([4004]);
    expect(statuses.at(-1)).toBe('closed');
  });

  it('drops the connection when the browser goes offline and resumes at once when back', () => {
    const { client, sockets, handshake, statuses } = setup();
    client.start();
    const socket = handshake();
    client.offline();
    expect(socket.closedWith).toBe(4900);
    expect(statuses.at(-1)).toBe('offline');
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1); // no reconnect storm while offline
    client.online();
    expect(sockets).toHaveLength(2);
    const next = sockets[1] as FakeSocket;
    next.receive({ op: Op.Hello, d: { heartbeat_interval: HEARTBEAT_MS } });
    expect(next.ops(Op.Resume)).toHaveLength(1);
  });

  it('sends presence updates while connected and ends the session on stop', () => {
    const { client, handshake } = setup();
    client.start();
    const socket = handshake();
    client.setPresence('idle');
    expect(socket.ops(Op.PresenceUpdate)).toEqual([
      { op: Op.PresenceUpdate, d: { since: null, activities: [], status: 'idle', afk: false } },
    ]);
    client.stop();
    expect(socket.closedWith).toBe(1000);
  });

  it('sends voice state updates (op 4) only while connected', () => {
    const { client, handshake } = setup();
    const state = { guild_id: '10', channel_id: '102', self_mute: true, self_deaf: false };
    client.updateVoiceState(state);
    client.start();
    const socket = handshake();
    client.updateVoiceState(state);
    expect(socket.ops(Op.VoiceStateUpdate)).toEqual([{ op: Op.VoiceStateUpdate, d: state }]);
  });
});
