import { useEffect, useState } from 'react';
import { Link, match, navigate, useLocation } from './router';
import { hasSession, loadMe, onSignedOut, signOut } from './session';
import type { Me } from './types';
import { ErrorBox, useLoad } from './ui';
import { AcceptInvitation, AcceptInvitationPage } from './pages/AcceptInvitation';
import { AdminTenant } from './pages/AdminTenant';
import { AdminTenants } from './pages/AdminTenants';
import { SignIn } from './pages/SignIn';
import { Tenant, isTenantTab } from './pages/Tenant';

/** The console: the sign-in page, or the signed-in layout and the page the path names. */
export function App() {
  const [signedIn, setSignedIn] = useState(hasSession);
  const [ended, setEnded] = useState<string | null>(null);
  // A session that ends by itself (a refresh refused, a token the server no longer accepts) returns to the sign-in page, where it was.
  useEffect(() => onSignedOut((reason) => { setEnded(reason); setSignedIn(false); }), []);
  if (!signedIn) return <SignIn notice={ended ? `Your session ended (${ended}). Sign in again.` : null} onSignedIn={() => { setEnded(null); setSignedIn(true); }} />;
  return <SignedIn onSignOut={() => { signOut(); setSignedIn(false); navigate('/'); }} />;
}

function SignedIn({ onSignOut }: { onSignOut: () => void }) {
  const me = useLoad(loadMe, []);
  const { path, query } = useLocation();
  const failed = me.error !== undefined && me.data === undefined;
  if (failed) return <main><ErrorBox error={me.error} /><button type="button" onClick={onSignOut}>Sign out</button></main>;
  if (!me.data) return <main><p className="muted">Loading…</p></main>;
  return (
    <>
      <Header me={me.data} onSignOut={onSignOut} />
      <Page me={me.data} path={path} query={query} reloadMe={me.reload} />
    </>
  );
}

function Header({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  return (
    <header>
      <Link to="/" className="brand">Tollgate</Link>
      <nav aria-label="Main">
        {me.user.isOperator ? <Link to="/admin/tenants">All tenants</Link> : null}
        {me.memberships.map((m) => <Link key={m.tenantId} to={`/tenants/${m.tenantId}/overview`}>{m.tenantName}</Link>)}
      </nav>
      <span className="who">{me.user.email}{me.user.isOperator ? ' · operator' : ''}</span>
      <button type="button" onClick={onSignOut}>Sign out</button>
    </header>
  );
}

function Page({ me, path, query, reloadMe }: { me: Me; path: string; query: URLSearchParams; reloadMe: () => void }) {
  if (path === '/' || path === '') return <Home me={me} reloadMe={reloadMe} />;
  const invitation = match('/invitations/:token', path);
  if (invitation) return <AcceptInvitationPage token={invitation.token!} accepted={reloadMe} />;
  if (match('/admin/tenants', path)) return <AdminTenants query={query} />;
  const adminTenant = match('/admin/tenants/:tenantId', path);
  if (adminTenant) return <AdminTenant key={adminTenant.tenantId} tenantId={adminTenant.tenantId!} />;
  const tenant = match('/tenants/:tenantId/:tab?', path);
  if (tenant) {
    const tab = tenant.tab ?? 'overview';
    if (isTenantTab(tab)) return <Tenant key={tenant.tenantId} me={me} tenantId={tenant.tenantId!} tab={tab} />;
  }
  return <main><h1>Not found</h1><p>No page at <code>{path}</code>. <Link to="/">Home</Link></p></main>;
}

/** Where a signed-in user starts: operators at the tenant search, everyone else at their tenants (and an invitation to accept). */
function Home({ me, reloadMe }: { me: Me; reloadMe: () => void }) {
  useEffect(() => {
    if (me.user.isOperator) navigate('/admin/tenants');
  }, [me]);
  return (
    <main>
      <h1>Your tenants</h1>
      {me.memberships.length === 0 ? <p className="muted">You are a member of no tenant.</p> : (
        <ul>{me.memberships.map((m) => <li key={m.tenantId}><Link to={`/tenants/${m.tenantId}/overview`}>{m.tenantName}</Link> <span className="muted">({m.role}, {m.kind})</span></li>)}</ul>
      )}
      <h2>Accept an invitation</h2>
      <AcceptInvitation accepted={reloadMe} />
    </main>
  );
}
