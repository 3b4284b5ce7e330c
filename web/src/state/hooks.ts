// React's view of the session: the session itself from context, and a selector
// hook over its store.

import { createContext, useContext, useSyncExternalStore } from 'react';

import type { Session } from '../session';
import { guildPermissions } from './permissions';
import type { State } from './store';

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside a signed-in SessionContext');
  return session;
}

/** Re-renders when the selected value changes (by `Object.is`): select small things,
 * or things the store keeps by reference. */
export function useStore<T>(select: (state: State) => T): T {
  const { store } = useSession();
  return useSyncExternalStore(store.subscribe, () => select(store.getState()));
}

/** The user's guild-level permissions in `guildId` (0 while unknown). */
export function usePermissions(guildId: string): bigint {
  return useStore((state) => {
    const guild = state.guilds[guildId];
    const me = state.me;
    if (guild === undefined || me === null) return 0n;
    return guildPermissions(guild, state.roles[guildId], state.members[guildId]?.[me.id], me.id);
  });
}
