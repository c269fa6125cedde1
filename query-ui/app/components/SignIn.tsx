// The sign-in form, shown by the shell when the API answers 401.
import { useState } from 'preact/hooks';
import { ApiError, type Me, signIn } from '../api';

export function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section class="sign-in">
      <h1>Sign in to Lookout</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          setBusy(true);
          signIn(String(f.get('username') ?? ''), String(f.get('password') ?? '')).then(
            (me) => {
              setBusy(false);
              onSignedIn(me);
            },
            (err) => {
              setBusy(false);
              setError(err instanceof ApiError ? err.message : String(err));
            },
          );
        }}
      >
        <label>
          User name
          <input name="username" autocomplete="username" required autofocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {error && (
          <div class="banner error" role="alert" data-testid="sign-in-error">
            {error}
          </div>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </section>
  );
}
