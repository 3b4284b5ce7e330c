// The signed-in user's live connection to CloudCord: one store, one REST client and
// one gateway client, wired together. Components read the store and call these
// actions (or `api` for one-off writes such as creating a guild); they never build
// requests or touch sockets themselves.

import { endpoints, HISTORY_PAGE } from './api/endpoints';
import type { Auth } from './auth/auth';
import { RestClient } from './api/rest';
import type { ChosenStatus, Message, MyGuild, Snowflake, User } from './api/types';
import { GatewayClient, type GatewayStatus } from './gateway/client';
import { CLIENT_INTENTS, sameOriginGateway } from './gateway/protocol';
import { showDesktopNotification } from './desktopNotifications';
import { registerServiceWorker, subscribeToPush, unsubscribeFromPush } from './push/subscription';
import { navigate, parseRoute } from './router';
import { canAddBots } from './state/permissions';
import { nextAck } from './state/readStates';
import { inboxTitle, plainText } from './state/selectors';
import { createStore, newCall, type State, type Store } from './state/store';
import { VoiceCall } from './voice/connection';

/** A typing indicator lasts ~10 s, so one POST per 8 s keeps it lit while typing. */
const TYPING_THROTTLE_MS = 8000;
/** How long a new or joined guild may take to reach the gateway. */
const GUILD_WAIT_MS = 15_000;
/** How often expired typing indicators are swept. */
const TYPING_SWEEP_MS = 1000;
/** setTimeout's longest delay (2^31 - 1 ms); a later renewal is scheduled then. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After a renewal failed for want of a network, try again this much later. */
const RENEW_RETRY_MS = 30_000;

export type ConnectionListener = (status: GatewayStatus) => void;

export class Session {
  readonly store: Store = createStore();
  readonly api;
  private readonly gateway: GatewayClient;
  private readonly historyLoads = new Map<Snowflake, Promise<void>>();
  private readonly lastTyping = new Map<Snowflake, number>();
  private connection: GatewayStatus = 'connecting';
  private readonly connectionListeners = new Set<ConnectionListener>();
  private sweep: ReturnType<typeof setInterval> | null = null;
  private renewal: ReturnType<typeof setTimeout> | null = null;
  private unwatch: (() => void) | null = null;
  private voiceCall: VoiceCall | null = null;

  constructor(
    readonly auth: Auth,
    /** The session is over (revoked, expired): the user must sign in again. */
    private readonly onSignedOut: () => void,
  ) {
    const rest = new RestClient({
      token: () => auth.accessToken(),
      refresh: () => auth.refresh(),
      onUnauthorized: onSignedOut,
    });
    this.api = endpoints(rest);
    this.gateway = new GatewayClient({
      url: sameOriginGateway(window.location),
      token: () => auth.accessToken(),
      intents: CLIENT_INTENTS,
      createSocket: (url) => new WebSocket(url),
      onDispatch: (event, data) => {
        this.store.dispatch({ type: 'dispatch', event, data, now: Date.now() });
      },
      onStatus: (status) => {
        this.connection = status;
        for (const listener of this.connectionListeners) listener(status);
      },
      onFatal: (code) => {
        // 4004: the token was refused (it expired while the tab slept): renew it and
        // identify again; a session that cannot be renewed is over.
        if (code !== 4004) return;
        auth.refresh().then(
          (fresh) => {
            if (fresh) this.gateway.start();
            else onSignedOut();
          },
          () => {
            this.scheduleRenewal(RENEW_RETRY_MS);
          },
        );
      },
    });
  }

  /** Renews the access token shortly before it expires, so neither a request nor a
   * reconnect ever presents an expired one. */
  private scheduleRenewal(delay = this.auth.renewAt() - Date.now()): void {
    if (this.renewal !== null) clearTimeout(this.renewal);
    if (!Number.isFinite(delay)) return;
    this.renewal = setTimeout(() => {
      this.renewal = null;
      this.auth.refresh().then(
        (fresh) => {
          if (!fresh) {
            this.onSignedOut();
            return;
          }
          this.scheduleRenewal();
          // A gateway closed for a refused token comes back with the new one.
          if (this.connection === 'closed') this.gateway.start();
        },
        () => {
          this.scheduleRenewal(RENEW_RETRY_MS);
        },
      );
    }, Math.min(Math.max(delay, 0), MAX_TIMER_MS));
  }

  start(): void {
    window.addEventListener('offline', this.wentOffline);
    window.addEventListener('online', this.cameOnline);
    this.sweep = setInterval(() => {
      this.store.dispatch({ type: 'typing-expired', now: Date.now() });
    }, TYPING_SWEEP_MS);
    this.scheduleRenewal();
    const unwatchNotifications = this.watchNotifications();
    const unwatchReading = this.watchReading();
    this.unwatch = () => {
      unwatchNotifications();
      unwatchReading();
    };
    this.gateway.start();
    // Best effort: without a service worker or a push service (some browsers, private
    // windows) the client works as before, with notifications only while it is open.
    registerServiceWorker((path) => {
      navigate(parseRoute(path));
    })
      .then(() => this.enablePush())
      .catch(() => undefined);
  }

  /** Subscribes this browser to pushes once notifications are allowed (again at each
   * start, so the server keeps a subscription the browser renewed). */
  enablePush(): Promise<void> {
    return subscribeToPush(this.api);
  }

  /** Before signing out: this browser is told nothing more. */
  disablePush(): Promise<void> {
    return unsubscribeFromPush(this.api);
  }

  stop(): void {
    window.removeEventListener('offline', this.wentOffline);
    window.removeEventListener('online', this.cameOnline);
    if (this.sweep !== null) clearInterval(this.sweep);
    if (this.renewal !== null) clearTimeout(this.renewal);
    this.unwatch?.();
    void this.leaveVoice();
    this.gateway.stop();
  }

  private readonly wentOffline = () => {
    this.gateway.offline();
  };

  private readonly cameOnline = () => {
    this.gateway.online();
  };

  connectionStatus(): GatewayStatus {
    return this.connection;
  }

  onConnection(listener: ConnectionListener): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  /** Loads the latest page of `channelId` unless some history is already there (a
   * fresh READY drops cached history, so the open channel asks again). */
  ensureHistory(channelId: Snowflake): Promise<void> {
    if (this.store.getState().messages[channelId] !== undefined) return Promise.resolve();
    return this.loadPage(channelId, undefined);
  }

  /** Loads the page before the oldest loaded message. */
  loadOlder(channelId: Snowflake): Promise<void> {
    const channel = this.store.getState().messages[channelId];
    if (channel?.hasMore === false) return Promise.resolve();
    return this.loadPage(channelId, channel?.ids[0]);
  }

  private loadPage(channelId: Snowflake, before: Snowflake | undefined): Promise<void> {
    const pending = this.historyLoads.get(channelId);
    if (pending !== undefined) return pending;
    const load = this.api
      .messages(channelId, before)
      .then((messages) => {
        this.store.dispatch({ type: 'history', channelId, messages, requested: HISTORY_PAGE });
      })
      .finally(() => this.historyLoads.delete(channelId));
    this.historyLoads.set(channelId, load);
    return load;
  }

  async send(channelId: Snowflake, content: string, replyTo?: Snowflake, files: readonly File[] = []): Promise<void> {
    this.lastTyping.delete(channelId);
    const message = await this.api.sendMessage(channelId, content, newNonce(), replyTo, files);
    this.store.dispatch({ type: 'message', message });
  }

  async edit(channelId: Snowflake, messageId: Snowflake, content: string): Promise<void> {
    const message = await this.api.editMessage(channelId, messageId, content);
    this.store.dispatch({ type: 'message', message });
  }

  async delete(channelId: Snowflake, messageId: Snowflake): Promise<void> {
    await this.api.deleteMessage(channelId, messageId);
    this.store.dispatch({
      type: 'dispatch',
      event: 'MESSAGE_DELETE',
      data: { id: messageId, channel_id: channelId },
      now: Date.now(),
    });
  }

  /** Loads the channel's pinned messages (again, after a CHANNEL_PINS_UPDATE). */
  async loadPins(channelId: Snowflake): Promise<void> {
    const messages = await this.api.pins(channelId);
    this.store.dispatch({ type: 'pins', channelId, messages });
  }

  /** Pins or unpins a message; the pinned list loads again when the gateway says
   * the channel's pins changed. */
  async setPinned(channelId: Snowflake, messageId: Snowflake, pinned: boolean): Promise<void> {
    if (pinned) await this.api.pin(channelId, messageId);
    else await this.api.unpin(channelId, messageId);
    this.store.dispatch({ type: 'pinned', channelId, messageId, pinned });
  }

  /** Adds or removes the user's reaction; the count changes when the gateway says so. */
  async toggleReaction(channelId: Snowflake, messageId: Snowflake, emoji: string, mine: boolean): Promise<void> {
    if (mine) await this.api.removeReaction(channelId, messageId, emoji);
    else await this.api.addReaction(channelId, messageId, emoji);
  }

  /** Tells the channel the user is typing, at most once per throttle window. */
  typing(channelId: Snowflake): void {
    const now = Date.now();
    const last = this.lastTyping.get(channelId) ?? 0;
    if (now - last < TYPING_THROTTLE_MS) return;
    this.lastTyping.set(channelId, now);
    // Best effort: a lost typing notice costs nothing.
    this.api.typing(channelId).catch(() => undefined);
  }

  /** Resolves once the guild's GUILD_CREATE has arrived: a guild just created or
   * joined through REST reaches the gateway a moment later. */
  waitForGuild(guildId: Snowflake, timeoutMs = GUILD_WAIT_MS): Promise<void> {
    return this.waitFor((state) => state.guilds[guildId] !== undefined, timeoutMs);
  }

  /** Resolves once the store satisfies `arrived`: what a REST write changed reaches
   * the client through the gateway a moment after the write answers. */
  waitFor(arrived: (state: State) => boolean, timeoutMs = GUILD_WAIT_MS): Promise<void> {
    if (arrived(this.store.getState())) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new Error('The change did not arrive in time; try reloading.'));
      }, timeoutMs);
      const unsubscribe = this.store.subscribe(() => {
        if (!arrived(this.store.getState())) return;
        clearTimeout(timer);
        unsubscribe();
        resolve();
      });
    });
  }

  /** Chooses a voice channel (or none) for the voice panel. */
  chooseVoice(channelId: Snowflake | null): void {
    this.store.dispatch({ type: 'voice', channelId });
  }

  /** Joins voice channel `channelId` (leaving a call elsewhere first): the server
   * admits the user and mints a media token, then the call connects to the SFU. */
  async joinVoice(channelId: Snowflake): Promise<void> {
    const current = this.store.getState().call;
    if (current?.channelId === channelId && current.status !== 'failed') return;
    await this.leaveVoice();
    const { muted, deafened } = this.store.getState();
    this.chooseVoice(channelId);
    this.store.dispatch({ type: 'call', call: newCall(channelId) });
    try {
      const { token, endpoint } = await this.api.joinVoice(channelId, muted);
      const call = new VoiceCall(token, endpoint, await VoiceCall.iceServers(token, endpoint), {
        status: (status, problem) => {
          if (this.voiceCall === call) this.store.dispatch({ type: 'call-status', status, problem: problem ?? null });
        },
        speaking: (userId, speaking) => {
          if (this.voiceCall === call) this.store.dispatch({ type: 'speaking', userId, speaking });
        },
        streams: (streams) => {
          if (this.voiceCall === call) this.store.dispatch({ type: 'call-changed', changes: { streams } });
        },
      });
      this.voiceCall = call;
      this.store.dispatch({ type: 'call-status', status: 'connecting', problem: null });
      await call.start(muted || deafened);
      call.setDeafened(deafened);
    } catch (error) {
      await this.voiceCall?.stop();
      this.voiceCall = null;
      const problem = error instanceof Error ? error.message : String(error);
      this.store.dispatch({ type: 'call-status', status: 'failed', problem });
    }
  }

  /** Leaves the call, if there is one: the SFU and then the server forget it. */
  async leaveVoice(): Promise<void> {
    const call = this.store.getState().call;
    if (call === null) return;
    this.store.dispatch({ type: 'call', call: null });
    const connection = this.voiceCall;
    this.voiceCall = null;
    await connection?.stop();
    await this.api.leaveVoice(call.channelId).catch(() => undefined);
  }

  /** The user panel's microphone switch (in a call or for the next one). Unmuting
   * while deafened undeafens, as in Discord. */
  toggleMute(): void {
    const { muted, deafened } = this.store.getState();
    this.setSound(!muted && !deafened, false);
  }

  /** The user panel's sound switch: deafened, the others are not played and the
   * microphone is off too; undeafening restores the microphone as it was. */
  toggleDeafen(): void {
    const { muted, deafened } = this.store.getState();
    this.setSound(muted, !deafened);
  }

  private setSound(muted: boolean, deafened: boolean): void {
    this.voiceCall?.setMuted(muted || deafened);
    this.voiceCall?.setDeafened(deafened);
    this.store.dispatch({ type: 'sound', muted, deafened });
    // In a call, the others see it (op 4 in the same channel changes only the flags).
    const { call, channels } = this.store.getState();
    const guildId = call === null ? undefined : channels[call.channelId]?.guild_id;
    if (call === null || guildId === undefined) return;
    this.gateway.updateVoiceState({ guild_id: guildId, channel_id: call.channelId, self_mute: muted || deafened, self_deaf: deafened });
  }

  /** Turns the camera on or off; a camera that cannot start says why. */
  async toggleCamera(): Promise<void> {
    const call = this.store.getState().call;
    if (call === null || this.voiceCall === null) return;
    try {
      const camera = await this.voiceCall.setCamera(call.camera === null);
      this.store.dispatch({ type: 'call-changed', changes: { camera } });
    } catch (error) {
      const problem = `The camera is unavailable (${error instanceof Error ? error.message : String(error)}).`;
      this.store.dispatch({ type: 'call-status', status: call.status, problem });
    }
  }

  /** Opens the DM channel with `userId` (creating it the first time) and goes there. */
  async openDirect(userId: Snowflake): Promise<void> {
    const channel = await this.api.openDm(userId);
    // The REST answer is enough to show it; the gateway's CHANNEL_CREATE follows.
    this.store.dispatch({ type: 'dispatch', event: 'CHANNEL_CREATE', data: channel, now: Date.now() });
    navigate({ name: 'dm', channelId: channel.id });
  }

  /** The user looks at `channelId` (or at no channel): its notifications are read. */
  view(channelId: Snowflake | null): void {
    this.store.dispatch({ type: 'viewing', channelId });
  }

  markAllRead(): void {
    this.store.dispatch({ type: 'read-all' });
  }

  /** Opens the channel of `message` at the message. */
  jumpTo(message: Message): void {
    const { channel_id: channelId, id } = message;
    const guildId = message.guild_id ?? this.store.getState().channels[channelId]?.guild_id;
    navigate(
      guildId === undefined
        ? { name: 'dm', channelId, messageId: id }
        : { name: 'guild', guildId, channelId, messageId: id },
    );
  }

  /** Acks what the user reads (see readStates.ts), so the server's unread counts
   * follow them on every device. */
  private watchReading(): () => void {
    const acked = new Map<Snowflake, Snowflake>();
    return this.store.subscribe(() => {
      const ack = nextAck(this.store.getState(), acked);
      if (ack === null) return;
      acked.set(ack.channelId, ack.messageId);
      // Best effort: a lost ack is repeated by the next message read there.
      this.api.ack(ack.channelId, ack.messageId).catch(() => undefined);
    });
  }

  /** Shows each new unread notification as a browser notification (when allowed). */
  private watchNotifications(): () => void {
    let last = this.store.getState().notifications;
    let known = new Set(last.map((item) => item.message.id));
    return this.store.subscribe(() => {
      const { notifications } = this.store.getState();
      if (notifications === last) return;
      last = notifications;
      for (const item of notifications) {
        if (known.has(item.message.id) || item.read) continue;
        const state = this.store.getState();
        showDesktopNotification(inboxTitle(state, item), plainText(state, item.message), item.message.id, () => {
          this.jumpTo(item.message);
        });
      }
      known = new Set(notifications.map((item) => item.message.id));
    });
  }

  /** What adding the bot of `applicationId` to a server needs: the bot (its user id
   * is the application's), and the user's guilds they may add it to, by name. */
  async botRequest(applicationId: string): Promise<{ bot: User; guilds: MyGuild[] }> {
    if (!/^\d+$/.test(applicationId)) throw new Error('This link names no application.');
    const [bot, guilds] = await Promise.all([this.api.user(applicationId), this.api.myGuilds()]);
    if (bot.bot !== true) throw new Error('This link names no bot.');
    return { bot, guilds: guilds.filter(canAddBots).sort((a, b) => a.name.localeCompare(b.name)) };
  }

  setStatus(status: ChosenStatus): void {
    this.store.dispatch({ type: 'status', status });
    this.gateway.setPresence(status);
  }
}

/** A message nonce: unique per send, at most 25 characters (Discord's limit). */
function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
