import { unwrap } from '@tollgate/sdk';
import { useState } from 'react';
import { Link, navigate } from '../router';
import { tg } from '../session';
import { ActionForm, Field } from '../ui';

/**
 * Accepting an invitation as the signed-in user it was sent to (`POST /v1/invitations/{token}/accept`):
 * at `/console/invitations/{token}` (a link an invitation mail can carry: `mail.invitationUrl`
 * in the config), or by pasting the token on the home page.
 */
export function AcceptInvitation({ token: given, accepted }: { token?: string; accepted: () => void }) {
  const [token, setToken] = useState(given ?? '');
  return (
    <ActionForm label="Accept invitation" className="action row-form"
      submit={async () => {
        const joined = await unwrap(tg.api.POST('/v1/invitations/{token}/accept', { params: { path: { token: token.trim() } } }));
        accepted();
        navigate(`/tenants/${joined.tenantId}/overview`);
      }}>
      {given ? <p>You were invited to a tenant. Accept to join it as the user you are signed in as.</p>
        : <Field label="Invitation token"><input name="invitationToken" required pattern="tgi_[0-9A-Za-z]{40}" value={token} onChange={(e) => setToken(e.target.value)} /></Field>}
    </ActionForm>
  );
}

export function AcceptInvitationPage({ token, accepted }: { token: string; accepted: () => void }) {
  return (
    <main>
      <h1>Invitation</h1>
      <AcceptInvitation token={token} accepted={accepted} />
      <p className="muted"><Link to="/">Not now</Link></p>
    </main>
  );
}
