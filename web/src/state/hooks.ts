// React's view of the session: the session itself from context, and a selector
// hook over its store.

import { createContext, useContext, useSyncExternalStore } from 'react';

import type { Session } from '../session';
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
