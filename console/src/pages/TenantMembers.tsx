import { unwrap } from '@tollgate/sdk';
import { useState } from 'react';
import { tg } from '../session';
import type { Invitation, Member, Role } from '../types';
import { ActionForm, Field, Section, ShowOnce, Table, useLoad, when } from '../ui';

const ROLES: Role[] = ['owner', 'admin', 'member'];

/** Members and their roles (change, remove), and invitations (create with the token shown once, revoke). */
export function TenantMembers({ tenantId, userId }: { tenantId: string; userId: string }) {
  const path = { params: { path: { tenantId } } };
  const members = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/members', path)), [tenantId]);
  const invitations = useLoad(() => unwrap(tg.api.GET('/v1/tenants/{tenantId}/invitations', path)), [tenantId]);
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [token, setToken] = useState<string | null>(null);
  return (
    <>
      <Section title="Members" loaded={members}>
        {(data) => (
          <Table<Member> rows={data.members} rowKey={(m) => m.userId} empty="No members." columns={[
            { title: 'Email', cell: (m) => m.email },
            { title: 'Name', cell: (m) => m.name ?? '—' },
            { title: 'Role', cell: (m) => <RoleForm tenantId={tenantId} member={m} changed={members.reload} /> },
            { title: 'Joined', cell: (m) => when(m.joinedAt) },
            { title: '', cell: (m) => (
              <ActionForm label={m.userId === userId ? 'Leave' : 'Remove'} done={members.reload} className="inline"
                submit={() => unwrap(tg.api.DELETE('/v1/tenants/{tenantId}/members/{userId}', { params: { path: { tenantId, userId: m.userId } } }))} />
            ) },
          ]} />
        )}
      </Section>
      <Section title="Invitations" loaded={invitations}>
        {(data) => (
          <>
            {token ? <ShowOnce title="Invitation token" secret={token} onDismiss={() => setToken(null)} /> : null}
            <ActionForm label="Invite" className="action row-form" done={() => { setEmail(''); invitations.reload(); }}
              submit={async () => {
                const invitation = await unwrap(tg.api.POST('/v1/tenants/{tenantId}/invitations', { params: { path: { tenantId } }, body: { email, role } }));
                setToken(invitation.token);
              }}>
              <Field label="Email"><input name="inviteEmail" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} /></Field>
              <Field label="Role">
                <select name="inviteRole" value={role} onChange={(e) => setRole(e.target.value as Role)}>
                  {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                </select>
              </Field>
            </ActionForm>
            <p className="muted">The invited person signs in (or signs up) with that email and accepts at <code>/console/invitations/&lt;token&gt;</code>, or pastes the token on the console's home page.</p>
            <Table<Invitation> rows={data.invitations} rowKey={(i) => i.id} empty="No open invitations." columns={[
              { title: 'Email', cell: (i) => i.email },
              { title: 'Role', cell: (i) => i.role },
              { title: 'Expires', cell: (i) => when(i.expiresAt) },
              { title: '', cell: (i) => (
                <ActionForm label="Revoke" className="inline" done={invitations.reload}
                  submit={() => unwrap(tg.api.DELETE('/v1/tenants/{tenantId}/invitations/{invitationId}', { params: { path: { tenantId, invitationId: i.id } } }))} />
              ) },
            ]} />
          </>
        )}
      </Section>
    </>
  );
}

function RoleForm({ tenantId, member, changed }: { tenantId: string; member: Member; changed: () => void }) {
  const [role, setRole] = useState<Role>(member.role);
  return (
    <ActionForm label="Change" className="inline" done={changed}
      submit={() => unwrap(tg.api.PATCH('/v1/tenants/{tenantId}/members/{userId}', { params: { path: { tenantId, userId: member.userId } }, body: { role } }))}>
      <select aria-label={`Role of ${member.email}`} value={role} onChange={(e) => setRole(e.target.value as Role)}>
        {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
      </select>
    </ActionForm>
  );
}
