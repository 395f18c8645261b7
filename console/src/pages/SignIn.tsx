import { useState } from 'react';
import { ActionForm, Field } from '../ui';
import { signIn } from '../session';

/** Sign in with an email and a password (`POST /v1/token`, password grant). */
export function SignIn({ onSignedIn, notice }: { onSignedIn: () => void; notice?: string | null }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  return (
    <main className="sign-in">
      <h1>Tollgate console</h1>
      <p className="muted">Operators manage every tenant; owners and admins manage their own tenant.</p>
      {notice ? <p className="notice" role="status">{notice}</p> : null}
      <ActionForm label="Sign in" submit={() => signIn(email, password)} done={onSignedIn} className="stack">
        <Field label="Email"><input type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} /></Field>
        <Field label="Password"><input type="password" name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} /></Field>
      </ActionForm>
    </main>
  );
}
