// The client's few routes, on the History API:
//   /login                         sign in or register
//   /channels/@me                  signed in, no server open
//   /channels/@me/{channel}/{message?}  a direct message
//   /channels/{guild}/{channel?}/{message?}
//                                  a server, one of its channels, one of its messages
//   /invite/{code}                 join a server by invite
//   /oauth2/callback               where the sign-in service sends the browser back
// The front door answers every such path with index.html (SPA fallback).

import { useSyncExternalStore } from 'react';

export type Route =
  | { name: 'login' }
  | { name: 'home' }
  | { name: 'guild'; guildId: string; channelId: string | null; messageId?: string }
  | { name: 'dm'; channelId: string; messageId?: string }
  | { name: 'invite'; code: string }
  | { name: 'callback' };

export function parseRoute(path: string): Route {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second, third, fourth] = parts;
  if (first === 'login') return { name: 'login' };
  if (first === 'oauth2' && second === 'callback') return { name: 'callback' };
  if (first === 'invite' && second !== undefined) return { name: 'invite', code: second };
  if (first === 'channels' && second === '@me' && third !== undefined) {
    const route: Route = { name: 'dm', channelId: third };
    return fourth === undefined ? route : { ...route, messageId: fourth };
  }
  if (first === 'channels' && second !== undefined && second !== '@me') {
    const route: Route = { name: 'guild', guildId: second, channelId: third ?? null };
    return third !== undefined && fourth !== undefined ? { ...route, messageId: fourth } : route;
  }
  return { name: 'home' };
}

export function routePath(route: Route): string {
  switch (route.name) {
    case 'login':
      return '/login';
    case 'home':
      return '/channels/@me';
    case 'invite':
      return `/invite/${encodeURIComponent(route.code)}`;
    case 'callback':
      return '/oauth2/callback';
    case 'dm':
      return `/channels/@me/${route.channelId}${route.messageId === undefined ? '' : `/${route.messageId}`}`;
    case 'guild':
      if (route.channelId === null) return `/channels/${route.guildId}`;
      return `/channels/${route.guildId}/${route.channelId}${route.messageId === undefined ? '' : `/${route.messageId}`}`;
  }
}

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

export function navigate(route: Route, options: { replace?: boolean } = {}): void {
  const path = routePath(route);
  if (path === window.location.pathname) return;
  if (options.replace === true) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  for (const listener of listeners) listener();
}

export function useRoute(): Route {
  const path = useSyncExternalStore(subscribe, () => window.location.pathname);
  return parseRoute(path);
}
