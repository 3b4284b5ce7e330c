// Signed out: sign in through CloudCord's sign-in service (its page asks for the
// password), or create an account here.

import { useId, useState, type SubmitEvent } from 'react';

import { describeError } from '../api/rest';
import { Auth, beginSignIn, browserEnvironment, register } from '../auth/auth';
import { currentLocation } from '../router';
import { formText } from './formText';

type Mode = 'login' | 'register';

export function LoginScreen({ onSignedIn }: { onSignedIn: (auth: Auth) => void }) {
  const [mode, setMode] = useState<Mode>('login');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const usernameId = useId();
  const passwordId = useId();
  const errorId = useId();

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  }

  async function submitRegistration(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const username = formText(form, 'username').trim();
    const password = formText(form, 'password');
    await run(async () => {
      const env = browserEnvironment();
      onSignedIn(new Auth(await register(env, username, password), env));
    });
  }

  const switchTo = (next: Mode) => {
    setMode(next);
    setError(null);
  };
  const errorLine = error !== null && (
    <p id={errorId} className="form-error" role="alert">
      {error}
    </p>
  );

  if (mode === 'login') {
    return (
      <main className="login">
        <div className="login-card" aria-describedby={error === null ? undefined : errorId}>
          <h1>Welcome back!</h1>
          <p className="muted">Sign in to CloudCord with your username and password on CloudCord&apos;s sign-in page.</p>
          {errorLine}
          <button
            type="button"
            className="primary"
            disabled={busy}
            // Back to the page the person opened (an invite or a bot's link, with its
            // query) once signed in.
            onClick={() => void run(() => beginSignIn(currentLocation()))}
          >
            Log in
          </button>
          <p className="muted">
            Need an account?{' '}
            <button type="button" className="link" onClick={() => { switchTo('register'); }}>
              Register
            </button>
          </p>
        </div>
      </main>
    );
  }
  return (
    <main className="login">
      <form className="login-card" onSubmit={(event) => void submitRegistration(event)} aria-describedby={error === null ? undefined : errorId}>
        <h1>Create an account</h1>
        <p className="muted">Pick a username and a password.</p>
        <label htmlFor={usernameId}>Username</label>
        <input id={usernameId} name="username" autoComplete="username" required minLength={2} maxLength={32} autoFocus />
        <label htmlFor={passwordId}>Password</label>
        <input id={passwordId} name="password" type="password" autoComplete="new-password" required minLength={8} maxLength={128} />
        {errorLine}
        <button type="submit" className="primary" disabled={busy}>
          Register
        </button>
        <p className="muted">
          Already have an account?{' '}
          <button type="button" className="link" onClick={() => { switchTo('login'); }}>
            Log in
          </button>
        </p>
      </form>
    </main>
  );
}
