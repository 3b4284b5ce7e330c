// The client's few routes, on the History API:
//   /login                         sign in or register
//   /channels/@me                  signed in, no server open
//   /channels/@me/{channel}/{message?}  a direct message
//   /channels/{guild}/{channel?}/{message?}
//                                  a server, one of its channels, one of its messages
//   /invite/{code}                 join a server by invite
//   /oauth2/callback               where the sign-in service sends the browser back
//   /oauth2/bot?client_id&permissions&guild_id&disable_guild_select
//                                  add a bot to a server (where the API's
//                                  /oauth2/authorize?scope=bot sends the browser)
// The front door answers every such path with index.html (SPA fallback).

import { useSyncExternalStore } from 'react';

export type Route =
  | { name: 'login' }
  | { name: 'home' }
  | { name: 'guild'; guildId: string; channelId: string | null; messageId?: string }
  | { name: 'dm'; channelId: string; messageId?: string }
  | { name: 'invite'; code: string }
  | { name: 'callback' }
  | AddBotRoute;

/** Discord's bot authorization link, as the API redirects to it. */
export interface AddBotRoute {
  name: 'add-bot';
  /** The application's id (its bot user's id); empty when the link has none. */
  clientId: string;
  /** The permissions asked for, a decimal bit set. */
  permissions: string;
  /** The server chosen in advance, if any. */
  guildId?: string;
  /** The link allows no other server than `guildId`. */
  disableGuildSelect: boolean;
}

/** Reads a location (path and query) of the client. */
export function parseRoute(location: string): Route {
  const url = new URL(location, 'http://client.invalid');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second, third, fourth] = parts;
  if (first === 'login') return { name: 'login' };
  if (first === 'oauth2' && second === 'callback') return { name: 'callback' };
  if (first === 'oauth2' && second === 'bot') return addBotRoute(url.searchParams);
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

function addBotRoute(query: URLSearchParams): AddBotRoute {
  const route: AddBotRoute = {
    name: 'add-bot',
    clientId: query.get('client_id') ?? '',
    permissions: query.get('permissions') ?? '0',
    disableGuildSelect: query.get('disable_guild_select') === 'true',
  };
  const guildId = query.get('guild_id');
  return guildId === null ? route : { ...route, guildId };
}

/** The location (path, and query where the route has one) of `route`. */
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
    case 'add-bot': {
      const query = new URLSearchParams({ client_id: route.clientId, permissions: route.permissions });
      if (route.guildId !== undefined) query.set('guild_id', route.guildId);
      if (route.disableGuildSelect) query.set('disable_guild_select', 'true');
      return `/oauth2/bot?${query.toString()}`;
    }
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
  if (path === currentLocation()) return;
  if (options.replace === true) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  for (const listener of listeners) listener();
}

/** The page's path and query, what `parseRoute` reads. */
export function currentLocation(): string {
  return window.location.pathname + window.location.search;
}

export function useRoute(): Route {
  return parseRoute(useSyncExternalStore(subscribe, currentLocation));
}
