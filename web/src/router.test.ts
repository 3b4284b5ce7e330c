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
      { name: 'add-bot', clientId: '7', permissions: '2048', disableGuildSelect: false },
      { name: 'add-bot', clientId: '7', permissions: '0', guildId: '1', disableGuildSelect: true },
    ];
    for (const route of routes) expect(parseRoute(routePath(route))).toEqual(route);
  });

  it('reads the callback the sign-in service redirects to, whatever its query', () => {
    expect(parseRoute('/oauth2/callback')).toEqual({ name: 'callback' });
    expect(parseRoute('/channels/@me')).toEqual({ name: 'home' });
  });

  it('reads the bot authorization link the API redirects to', () => {
    expect(parseRoute('/oauth2/bot?client_id=42&permissions=8&guild_id=9&disable_guild_select=true')).toEqual({
      name: 'add-bot',
      clientId: '42',
      permissions: '8',
      guildId: '9',
      disableGuildSelect: true,
    });
    // Only the application is required; Discord's defaults stand in for the rest.
    expect(parseRoute('/oauth2/bot?client_id=42')).toEqual({
      name: 'add-bot',
      clientId: '42',
      permissions: '0',
      disableGuildSelect: false,
    });
  });
});
