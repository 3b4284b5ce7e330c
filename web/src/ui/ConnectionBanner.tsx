import { useSyncExternalStore } from 'react';

import { useSession } from '../state/hooks';

/** Says so while the gateway is down. It floats over the chat, so appearing and
 * disappearing moves nothing. */
export function ConnectionBanner() {
  const session = useSession();
  const status = useSyncExternalStore(
    (listener) => session.onConnection(listener),
    () => session.connectionStatus(),
  );
  if (status !== 'reconnecting' && status !== 'offline') return null;
  return (
    <div className="connection-banner" role="status">
      {status === 'offline' ? 'You are offline. Messages will catch up when you are back.' : 'Reconnecting…'}
    </div>
  );
}
