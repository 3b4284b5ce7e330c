// The top of the client: signed out, the login screen; back from the sign-in
// service, the callback; signed in, a session (store, REST, gateway) for the
// tokens and the chat layout.

import { useEffect, useState } from 'react';

import { Auth, signedOutElsewhere } from '../auth/auth';
import { navigate, useRoute } from '../router';
import { Session } from '../session';
import { SessionContext } from '../state/hooks';
import { Layout } from './Layout';
import { LoginScreen } from './LoginScreen';
import { SignInCallback } from './SignInCallback';

export function App() {
  const [auth, setAuth] = useState<Auth | null>(() => Auth.stored());
  const route = useRoute();

  useEffect(() => {
    if (auth !== null && route.name === 'login') navigate({ name: 'home' }, { replace: true });
  }, [auth, route.name]);

  // Signing out in one tab signs out every tab of the origin.
  useEffect(() => {
    const onStorage = (event: StorageEvent) => {
      if (signedOutElsewhere(event)) setAuth(null);
    };
    window.addEventListener('storage', onStorage);
    return () => {
      window.removeEventListener('storage', onStorage);
    };
  }, []);

  if (route.name === 'callback') return <SignInCallback onSignedIn={setAuth} />;
  if (auth === null) return <LoginScreen onSignedIn={setAuth} />;
  return (
    <SignedIn
      auth={auth}
      onSignOut={() => {
        setAuth(null);
        // Best effort: the tokens are forgotten here whether or not the provider hears.
        auth.signOut().catch(() => undefined);
      }}
      onSignedOut={() => {
        setAuth(null);
      }}
    />
  );
}

function SignedIn({ auth, onSignOut, onSignedOut }: { auth: Auth; onSignOut: () => void; onSignedOut: () => void }) {
  const [session] = useState(() => new Session(auth, onSignedOut));
  useEffect(() => {
    session.start();
    return () => {
      session.stop();
    };
  }, [session]);
  return (
    <SessionContext.Provider value={session}>
      <Layout
        onSignOut={() => {
          // The subscription is dropped while the tokens still work.
          void session.disablePush().finally(onSignOut);
        }}
      />
    </SessionContext.Provider>
  );
}
