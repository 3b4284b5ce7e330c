// The top of the client: signed out, the login screen; signed in, a session (store,
// REST, gateway) for the token and the chat layout.

import { useEffect, useState } from 'react';

import { currentSession, signOut, type Session as AuthSession } from '../auth/auth';
import { navigate, useRoute } from '../router';
import { Session } from '../session';
import { SessionContext } from '../state/hooks';
import { Layout } from './Layout';
import { LoginScreen } from './LoginScreen';

export function App() {
  const [auth, setAuth] = useState<AuthSession | null>(currentSession);
  const route = useRoute();

  useEffect(() => {
    if (auth !== null && route.name === 'login') navigate({ name: 'home' }, { replace: true });
  }, [auth, route.name]);

  if (auth === null) return <LoginScreen onSignedIn={setAuth} />;
  return (
    <SignedIn
      key={auth.token}
      token={auth.token}
      onSignedOut={() => {
        signOut();
        setAuth(null);
      }}
    />
  );
}

function SignedIn({ token, onSignedOut }: { token: string; onSignedOut: () => void }) {
  const [session] = useState(() => new Session(token, onSignedOut));
  useEffect(() => {
    session.start();
    return () => {
      session.stop();
    };
  }, [session]);
  return (
    <SessionContext.Provider value={session}>
      <Layout onSignOut={onSignedOut} />
    </SessionContext.Provider>
  );
}
