import { describe, expect, it } from 'vitest';

import { parseRoute, routePath, type Route } from './router';

describe('routes', () => {
  it('round-trip through their paths', () => {
    const routes: Route[] = [
      { name: 'login' },
      { name: 'home' },
      { name: 'invite', code: 'AbC' },
      { name: 'callback' },
      { name: 'guild', guildId: '1', channelId: null },
      { name: 'guild', guildId: '1', channelId: '2' },
      { name: 'guild', guildId: '1', channelId: '2', messageId: '3' },
      { name: 'dm', channelId: '5' },
      { name: 'dm', channelId: '5', messageId: '6' },
    ];
    for (const route of routes) expect(parseRoute(routePath(route))).toEqual(route);
  });

  it('reads the callback the sign-in service redirects to, whatever its query', () => {
    expect(parseRoute('/oauth2/callback')).toEqual({ name: 'callback' });
    expect(parseRoute('/channels/@me')).toEqual({ name: 'home' });
  });
});
