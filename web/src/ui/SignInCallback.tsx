// `/oauth2/callback`: the sign-in service sent the browser back with a code (or an
// error). Completes the sign-in once, then goes where the person was headed.

import { useEffect, useState } from 'react';

import { describeError } from '../api/rest';
import { Auth, beginSignIn, browserEnvironment, completeSignIn } from '../auth/auth';
import { navigate, parseRoute } from '../router';

/** The callback URL's code may be redeemed once: StrictMode's second effect run, or a
 * re-render, must not redeem it again (the provider would revoke the session). */
let completing: Promise<{ auth: Auth; returnTo: string }> | null = null;

function complete(): Promise<{ auth: Auth; returnTo: string }> {
  const env = browserEnvironment();
  completing ??= completeSignIn(env, new URL(window.location.href)).then(({ tokens, returnTo }) => ({
    auth: new Auth(tokens, env),
    returnTo,
  }));
  return completing;
}

export function SignInCallback({ onSignedIn }: { onSignedIn: (auth: Auth) => void }) {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    complete().then(
      ({ auth, returnTo }) => {
        if (!live) return;
        completing = null;
        onSignedIn(auth);
        navigate(parseRoute(returnTo), { replace: true });
      },
      (caught: unknown) => {
        if (live) setError(describeError(caught));
      },
    );
    return () => {
      live = false;
    };
  }, [onSignedIn]);

  return (
    <main className="login">
      <div className="login-card" role={error === null ? 'status' : 'alert'}>
        <h1>{error === null ? 'Signing you in…' : 'Sign-in failed'}</h1>
        {error !== null && (
          <>
            <p className="form-error">{error}</p>
            <button type="button" className="primary" onClick={() => void beginSignIn('/channels/@me')}>
              Try again
            </button>
          </>
        )}
      </div>
    </main>
  );
}
