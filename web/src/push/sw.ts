// The service worker: shows CloudCord's pushes (mentions, replies and DMs the server
// sends while the person has no client connected) as notifications, and opens the
// message's channel when one is clicked: in a CloudCord tab if one is open.

import { notificationFor, parsePushPayload } from './payload';

declare const self: ServiceWorkerGlobalScope;

self.addEventListener('install', () => {
  // A new version takes over at once: it only shows notifications, so there is no
  // page state an old version must keep serving.
  void self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('push', (event) => {
  let data: unknown = null;
  try {
    data = event.data?.json();
  } catch {
    // Not JSON: nothing this client can show.
  }
  const payload = parsePushPayload(data);
  if (payload === null) return;
  const { title, options } = notificationFor(payload);
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const path = (event.notification.data as { url?: unknown } | null)?.url;
  const url = new URL(typeof path === 'string' ? path : '/', self.location.origin).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((client) => new URL(client.url).origin === self.location.origin);
      if (open === undefined) {
        await self.clients.openWindow(url);
        return;
      }
      // The tab routes itself (see subscription.ts): no reload, the session stays.
      open.postMessage({ type: 'open', url });
      await open.focus();
    })(),
  );
});
