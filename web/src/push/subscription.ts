// This browser's Web Push subscription. The service worker (sw.ts) is registered at
// load; once the person allows notifications, the browser subscribes with the
// server's VAPID key and the server learns the subscription, so it can tell them of
// mentions, replies and DMs while no CloudCord tab is connected.

/** The server's side of it (see api/endpoints.ts). */
export interface PushApi {
  vapidPublicKey(): Promise<{ public_key: string }>;
  putPushSubscription(subscription: PushSubscriptionJSON): Promise<undefined>;
  deletePushSubscription(endpoint: string): Promise<undefined>;
}

/** The built worker sits at the root so that its scope is the whole client; the dev
 * server serves it from its source. */
const WORKER_URL = import.meta.env.DEV ? '/src/push/sw.ts' : '/sw.js';

export function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window;
}

/** Registers the service worker; a notification clicked while a tab is open routes
 * that tab to `path` through `open`. */
export async function registerServiceWorker(open: (path: string) => void): Promise<void> {
  if (!pushSupported()) return;
  navigator.serviceWorker.addEventListener('message', (event: MessageEvent<unknown>) => {
    const data = event.data as { type?: unknown; url?: unknown } | null;
    if (data?.type !== 'open' || typeof data.url !== 'string') return;
    const url = new URL(data.url);
    if (url.origin === window.location.origin) open(url.pathname + url.search);
  });
  await navigator.serviceWorker.register(WORKER_URL, { type: 'module', scope: '/' });
}

/** Bytes of unpadded base64url (the encoding of VAPID keys). */
export function base64UrlBytes(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
}

function sameBytes(a: ArrayBuffer | null, b: Uint8Array): boolean {
  if (a === null || a.byteLength !== b.byteLength) return false;
  const bytes = new Uint8Array(a);
  return bytes.every((byte, index) => byte === b[index]);
}

/** Subscribes this browser (keeping a subscription made for the server's current
 * key; one for an older key is replaced, as the push service would refuse the new
 * key's pushes to it) and gives the subscription to the server. */
export async function subscribeToPush(api: PushApi): Promise<void> {
  if (!pushSupported() || Notification.permission !== 'granted') return;
  const registration = await navigator.serviceWorker.ready;
  const key = base64UrlBytes((await api.vapidPublicKey()).public_key);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription !== null && !sameBytes(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await api.putPushSubscription(subscription.toJSON());
}

/** On sign-out: the server forgets this browser and the browser drops the
 * subscription, so the next person on this browser is not told of the last one's
 * mentions. */
export async function unsubscribeFromPush(api: PushApi): Promise<void> {
  if (!pushSupported()) return;
  const registration = await navigator.serviceWorker.getRegistration();
  const subscription = await registration?.pushManager.getSubscription();
  if (subscription === null || subscription === undefined) return;
  await Promise.allSettled([api.deletePushSubscription(subscription.endpoint), subscription.unsubscribe()]);
}
