import { useId, useState, type SubmitEvent } from 'react';

import { describeError } from '../api/rest';
import { login, register, type Session } from '../auth/auth';
import { formText } from './formText';

type Mode = 'login' | 'register';

export function LoginScreen({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [mode, setMode] = useState<Mode>('login');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const usernameId = useId();
  const passwordId = useId();
  const errorId = useId();

  async function submit(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const username = formText(form, 'username').trim();
    const password = formText(form, 'password');
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await (mode === 'login' ? login(username, password) : register(username, password)));
    } catch (caught) {
      setError(describeError(caught));
      setBusy(false);
    }
  }

  const title = mode === 'login' ? 'Welcome back!' : 'Create an account';
  return (
    <main className="login">
      <form className="login-card" onSubmit={(event) => void submit(event)} aria-describedby={error === null ? undefined : errorId}>
        <h1>{title}</h1>
        <p className="muted">{mode === 'login' ? 'Sign in to CloudCord.' : 'Pick a username and a password.'}</p>
        <label htmlFor={usernameId}>Username</label>
        <input id={usernameId} name="username" autoComplete="username" required minLength={2} maxLength={32} autoFocus />
        <label htmlFor={passwordId}>Password</label>
        <input
          id={passwordId}
          name="password"
          type="password"
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
          required
          minLength={8}
          maxLength={128}
        />
        {error !== null && (
          <p id={errorId} className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {mode === 'login' ? 'Log in' : 'Register'}
        </button>
        <p className="muted">
          {mode === 'login' ? 'Need an account? ' : 'Already have an account? '}
          <button
            type="button"
            className="link"
            onClick={() => {
              setMode(mode === 'login' ? 'register' : 'login');
              setError(null);
            }}
          >
            {mode === 'login' ? 'Register' : 'Log in'}
          </button>
        </p>
      </form>
    </main>
  );
}

