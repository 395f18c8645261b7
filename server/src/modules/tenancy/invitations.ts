import type { Db } from '../../db/client.js';
import { isUniqueViolation } from '../../db/errors.js';
import { inSystem, inTenant } from '../../db/scope.js';
import type { Clock } from '../../lib/clock.js';
import { mailLink, type Mailer } from '../../lib/mailer.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import type { CallContext, TenantAccess, UserPrincipal } from '../../lib/principal.js';
import { randomBase62, sha256Hex } from '../../lib/secrets.js';
import type { AuditService } from '../audit/index.js';
import * as repo from './repo.js';
import { actorOf, mayManage, readActingUser, type TenancyService } from './service.js';
import type { Role } from './tables.js';

export interface InvitationView { id: string; email: string; role: Role; expiresAt: string; createdAt: string }

/** Invitations: the token is shown once, stored hashed, expires, and is accepted at most once. */
export class InvitationService {
  private readonly ttlSeconds: number;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly tenancy: TenancyService,
    private readonly options: {
      ttlSeconds: number;
      /** The invitation mail goes through it. */
      mailer: Mailer;
      /** The accept link of the mail, {token} filled in (mail.invitationUrl); without one the mail gives the API's accept call. */
      acceptUrl: string | undefined;
      publicUrl: string;
    },
  ) {
    this.ttlSeconds = options.ttlSeconds;
  }

  async create(access: TenantAccess, input: { email: string; role: Role }, ctx: CallContext): Promise<InvitationView & { token: string }> {
    // An invitation names the member who sent it; a key is not a member.
    if (!access.userId) throw new AppError('FORBIDDEN', 'invitations are sent by a user');
    this.tenancy.assertMayGrant(access, input.role);
    const now = this.clock.now();
    const token = `tgi_${randomBase62(40)}`;
    const row = {
      tenantId: access.tenantId, id: newId('inv', now.getTime()), email: input.email, role: input.role,
      tokenHash: sha256Hex(token), invitedBy: access.userId!, expiresAt: new Date(now.getTime() + this.ttlSeconds * 1000),
      acceptedAt: null, acceptedBy: null, revokedAt: null, createdAt: now,
    };
    const tenantName = await inTenant(this.db, access.tenantId, async (tx) => {
      await repo.insertInvitation(tx, row);
      await this.audit.record(tx, {
        tenantId: access.tenantId, actor: actorOf(access), action: 'invitation.create',
        target: { type: 'invitation', id: row.id }, data: { email: input.email, role: input.role }, requestId: ctx.requestId,
      });
      return (await repo.findTenant(tx, access.tenantId))?.name ?? access.tenantId;
    });
    const { acceptUrl, publicUrl } = this.options;
    await this.options.mailer.send({
      kind: 'invitation', to: input.email, subject: `You are invited to join ${tenantName}`,
      text: `You are invited to join ${tenantName} as ${input.role}. Signed in as ${input.email}, accept it before ${row.expiresAt.toISOString()}:\n\n` +
        (acceptUrl ? `${mailLink(acceptUrl, token)}\n` : `POST ${publicUrl}/v1/invitations/${token}/accept\n`) +
        '\nIf you did not expect it, ignore this mail.\n',
    });
    return { ...toView(row), token };
  }

  async list(access: TenantAccess): Promise<InvitationView[]> {
    return inTenant(this.db, access.tenantId, async (tx) =>
      (await repo.listOpenInvitations(tx, access.tenantId, this.clock.now())).map(toView));
  }

  async revoke(access: TenantAccess, invitationId: string, ctx: CallContext): Promise<void> {
    await inTenant(this.db, access.tenantId, async (tx) => {
      if (!(await repo.revokeInvitation(tx, access.tenantId, invitationId, this.clock.now()))) throw new AppError('INVITATION_INVALID');
      await this.audit.record(tx, {
        tenantId: access.tenantId, actor: actorOf(access), action: 'invitation.revoke',
        target: { type: 'invitation', id: invitationId }, requestId: ctx.requestId,
      });
    });
  }

  /** The signed-in user whose email the invitation names joins the tenant; the token is spent. */
  async accept(principal: UserPrincipal, token: string, ctx: CallContext): Promise<{ tenantId: string; role: Role }> {
    // Two invitations to one tenant accepted at once: the second insert of the membership loses.
    const accepted = await this.acceptOnce(principal, token, ctx).catch((error: unknown) => {
      throw isUniqueViolation(error) ? new AppError('ALREADY_MEMBER') : error;
    });
    // The new member's next call, in any process, must not meet a cached "not a member".
    await this.tenancy.memberJoined(accepted.tenantId, principal.userId);
    return accepted;
  }

  private acceptOnce(principal: UserPrincipal, token: string, ctx: CallContext): Promise<{ tenantId: string; role: Role }> {
    const userId = principal.userId;
    return inSystem(this.db, async (tx) => {
      const now = this.clock.now();
      const invitation = await repo.findInvitationByTokenHash(tx, sha256Hex(token));
      if (!invitation || invitation.acceptedAt || invitation.revokedAt || invitation.expiresAt <= now) {
        throw new AppError('INVITATION_INVALID');
      }
      const user = await readActingUser(tx, principal);
      // Accepting proves nothing of the address (users.email_verified_at stays as it is): the token is
      // also returned to whoever sent the invitation, and anyone may make a tenant and invite any email.
      if (user.email.toLowerCase() !== invitation.email.toLowerCase()) throw new AppError('INVITATION_EMAIL_MISMATCH');
      const tenant = await repo.findTenant(tx, invitation.tenantId);
      if (!tenant || tenant.status !== 'active') throw new AppError('INVITATION_INVALID');
      if (await repo.findMembership(tx, invitation.tenantId, userId)) throw new AppError('ALREADY_MEMBER');
      // It grants what its sender may grant now, not what it could when it was sent: an
      // admin demoted or removed since (perhaps for inviting) leaves no seat behind.
      const sender = await repo.holdMembership(tx, invitation.tenantId, invitation.invitedBy);
      if (!mayManage(sender?.role ?? null, 'member', invitation.role)) {
        throw new AppError('INVITATION_INVALID', 'the member who sent this invitation may no longer grant its role');
      }
      if (!(await repo.markInvitationAccepted(tx, invitation.tenantId, invitation.id, userId, now))) {
        throw new AppError('INVITATION_INVALID');
      }
      await repo.insertMembership(tx, { tenantId: invitation.tenantId, userId, role: invitation.role, createdAt: now, updatedAt: now });
      await this.audit.record(tx, {
        tenantId: invitation.tenantId, actor: { type: 'user', id: userId }, action: 'invitation.accept',
        target: { type: 'invitation', id: invitation.id }, data: { role: invitation.role }, requestId: ctx.requestId,
      });
      return { tenantId: invitation.tenantId, role: invitation.role };
    });
  }
}

function toView(row: repo.InvitationRow): InvitationView {
  return { id: row.id, email: row.email, role: row.role, expiresAt: row.expiresAt.toISOString(), createdAt: row.createdAt.toISOString() };
}
