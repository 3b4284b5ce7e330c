import { describe, expect, it } from 'vitest';

import type { UserSession } from '../api/types';
import { deviceName, orderSessions } from './sessions';

function session(userAgent: string | null, overrides: Partial<UserSession> = {}): UserSession {
  return {
    id_hash: userAgent ?? 'none',
    approx_last_used_time: null,
    client_info: { client_id: 'cloudcord', user_agent: userAgent, scopes: '' },
    current: false,
    ...overrides,
  };
}

describe('the device list', () => {
  it('names the browser and system from the User-Agent', () => {
    const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36';
    const edge = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0';
    const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1';
    const firefox = 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0';
    expect(deviceName(session(chrome))).toBe('Chrome on Linux');
    expect(deviceName(session(edge))).toBe('Edge on Windows');
    expect(deviceName(session(iphone))).toBe('Safari on iOS');
    expect(deviceName(session(firefox))).toBe('Firefox on Android');
    expect(deviceName(session('curl/8.5.0'))).toBe('curl/8.5.0');
    expect(deviceName(session(null))).toBe('cloudcord');
  });

  it('lists this device first, then the most recently used', () => {
    const ordered = orderSessions([
      session('a', { approx_last_used_time: '2026-11-01T00:00:00Z' }),
      session('b', { approx_last_used_time: '2026-11-03T00:00:00Z' }),
      session('c', { approx_last_used_time: '2026-10-01T00:00:00Z', current: true }),
    ]);
    expect(ordered.map((row) => row.id_hash)).toEqual(['c', 'b', 'a']);
  });
});
