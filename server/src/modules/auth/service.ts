import { decodeJwt } from 'jose';
import type { Db, Executor } from '../../db/client.js';
import { isUniqueViolation } from '../../db/errors.js';
import { inSystem } from '../../db/scope.js';
import { TtlCache } from '../../lib/cache.js';
import { DAY_MS, type Clock } from '../../lib/clock.js';
import { checkUnderGuard, type CredentialGuard } from '../../lib/credential-guard.js';
import { AppError } from '../../lib/errors.js';
import { newId } from '../../lib/ids.js';
import { mailLink, type Mailer } from '../../lib/mailer.js';
import type { CallContext, Principal } from '../../lib/principal.js';
import { hashPassword, randomBase62, sha256Hex, verifyPassword } from '../../lib/secrets.js';
import { assertSessionLive, type TenancyService, type TenantView, type UserView } from '../tenancy/index.js';
import type { ExternalIdentity, ExternalIdentityVerifier } from './external.js';
import * as repo from './repo.js';
import type { AccessTokens } from './tokens.js';

export interface AuthOptions {
  issuer: string;
  refreshTokenTtlSeconds: number;
  passwordResetTtlSeconds: number;
  passwordMinLength: number;
  scryptCost: number;
  publicUrl: string;
  /** The reset mail's link, {token} filled in (mail.passwordResetUrl); without one the mail gives the token and the API call. */
  passwordResetUrl?: string | undefined;
}

/** What ensureOperator did: an existing user whose password is not the one given is left as it is. */
export interface EnsuredOperator { outcome: 'created' | 'granted' | 'already_operator' | 'not_their_password'; userId: string }

export interface TokenPair { accessToken: string; refreshToken: string; tokenType: 'Bearer'; expiresIn: number }

/** A hash to verify against when the email is unknown, so both paths cost the same. */
let decoyHash: Promise<string> | undefined;

type UserPrincipal = Extract<Principal, { type: 'user' }>;

/** A token whose signature checked out: who it names, and until when (epoch seconds). */
/** `kid`: the signing key of one of our own tokens (a provider's token has none of ours). */
interface VerifiedToken { principal: UserPrincipal; expiresAt: number; kid?: string }

export class AuthService {
  /**
   * Verified JWTs by the hash of the token, until the token expires: a verified
   * signature stays verified. What can change (the user's status) is checked on every
   * request through the invalidated tenancy cache, not stored here.
   */
  private readonly verified: TtlCache<string, VerifiedToken>;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly tenancy: TenancyService,
    private readonly tokens: AccessTokens,
    private readonly external: ExternalIdentityVerifier,
    private readonly mailer: Mailer,
    private readonly options: AuthOptions,
    /** Bounds the signature checks a client causes with tokens not verified here (http/rate-limit-hook.ts). */
    private readonly guard?: CredentialGuard,
  ) {
    // Room for every token in use (a token re-checked after eviction could meet a spent guard).
    this.verified = new TtlCache({ ttlMs: DAY_MS, maxEntries: 100_000, now: () => clock.now().getTime() });
  }

  async signup(input: { email: string; password: string; name?: string | undefined }, ctx: CallContext): Promise<{ user: UserView; tenant: TenantView } & TokenPair> {
    this.assertPasswordStrength(input.password);
    const passwordHash = await hashPassword(input.password, this.options.scryptCost);
    // The first session is written with the account: a signup answered with an error has
    // created nothing, so its retry is not an EMAIL_TAKEN.
    const { account, refreshToken } = await inSystem(this.db, async (tx) => {
      const created = await this.tenancy.createAccount(tx, { email: input.email, name: input.name ?? null, passwordHash }, ctx);
      await this.tenancy.recordSignIn(tx, created.user.id);
      return { account: created, refreshToken: await this.storeRefreshToken(tx, created.user.id) };
    });
    return { ...account, ...(await this.tokenPair(account.user.id, refreshToken)) };
  }

  async passwordGrant(email: string, password: string): Promise<TokenPair> {
    const checkedAt = this.clock.now();
    const user = await inSystem(this.db, (tx) => this.tenancy.findUserByEmail(tx, email));
    if (!user?.passwordHash) {
      decoyHash ??= hashPassword('decoy-password', this.options.scryptCost);
      await verifyPassword(password, await decoyHash);
      throw new AppError('INVALID_CREDENTIALS');
    }
    if (!(await verifyPassword(password, user.passwordHash))) throw new AppError('INVALID_CREDENTIALS');
    if (user.status !== 'active') throw new AppError('USER_DEACTIVATED');
    return this.issueTokens(user.id, undefined, checkedAt);
  }

  /**
   * Refresh tokens are single-use. Presenting a spent or revoked one means it was
   * copied: the whole family is revoked, so the thief's copy dies with the victim's.
   */
  async refreshGrant(refreshToken: string): Promise<TokenPair> {
    const now = this.clock.now();
    // One transaction, and the token's family taken one presentation at a time: the first
    // spends its token and stores the successor before any other presentation of a token of
    // the family reads it — the same token again, or an older one — finds it spent and
    // revokes the family, the successor with it. (Spent in one transaction and succeeded in
    // another, a successor stored after the revocation lived on.) The user's row is locked
    // before the family, the order a password reset takes them in (users, then tokens).
    const hash = sha256Hex(refreshToken);
    const outcome = await inSystem(this.db, async (tx) => {
      const presented = await repo.findRefreshToken(tx, hash);
      if (!presented) return { ok: false as const, error: 'INVALID_CREDENTIALS' as const };
      const { validAfter, active } = await this.tenancy.lockSessions(tx, presented.userId);
      // Signed out everywhere (a reset, a deactivation) at or after this token was made: it is dead.
      if (validAfter && validAfter >= presented.createdAt) return { ok: false as const, error: 'INVALID_CREDENTIALS' as const };
      await repo.lockFamily(tx, presented.familyId);
      const row = (await repo.findRefreshToken(tx, hash))!;
      if (row.usedAt || row.revokedAt) {
        await repo.revokeFamily(tx, row.familyId, now);
        return { ok: false as const, error: 'INVALID_CREDENTIALS' as const };
      }
      if (row.expiresAt <= now || !(await repo.spendRefreshToken(tx, row.id, now))) return { ok: false as const, error: 'INVALID_CREDENTIALS' as const };
      if (!active) return { ok: false as const, error: 'USER_DEACTIVATED' as const };
      return { ok: true as const, userId: row.userId, ...await this.storeSession(tx, row.userId, row.familyId) };
    });
    if (!outcome.ok) throw new AppError(outcome.error);
    return this.tokenPair(outcome.userId, outcome.refreshToken, outcome.issuedAt);
  }

  /**
   * A new session. `checkedAt`: when the password or refresh token it is granted for was
   * checked. A password reset that committed since signs this grant out too; one that
   * commits later waits for the user's row held here, then revokes what was inserted.
   */
  async issueTokens(userId: string, familyId?: string, checkedAt?: Date): Promise<TokenPair> {
    const { refreshToken, issuedAt } = await inSystem(this.db, (tx) => this.storeSession(tx, userId, familyId, checkedAt));
    return this.tokenPair(userId, refreshToken, issuedAt);
  }

  /**
   * issueTokens' part in the database, in `tx`: the new refresh token, and the instant its
   * access token is issued at — read here, while the user's row is held, so that a reset
   * committing after this transaction (its sign-out instant read once the row is let go)
   * signs the access token out too, however long the signing takes.
   */
  private async storeSession(tx: Executor, userId: string, familyId?: string, checkedAt?: Date): Promise<{ refreshToken: string; issuedAt: Date }> {
    // Deactivated since the password was checked (the row is held now): no session.
    if (checkedAt && !(await this.holdSessions(tx, userId, checkedAt))) throw new AppError('USER_DEACTIVATED');
    // A session of its own (not a refresh of one) is a sign-in.
    if (familyId === undefined) await this.tenancy.recordSignIn(tx, userId);
    return { refreshToken: await this.storeRefreshToken(tx, userId, familyId), issuedAt: this.clock.now() };
  }

  /**
   * Holds the user's row until `tx` ends (a reset or a deactivation waits for it): a reset
   * committed since `checkedAt` refuses the grant. Answers whether the user may act, as
   * the row stands — it cannot change before the grant commits.
   */
  private async holdSessions(tx: Executor, userId: string, checkedAt: Date): Promise<boolean> {
    const { validAfter, active } = await this.tenancy.lockSessions(tx, userId);
    if (validAfter && validAfter > checkedAt) throw new AppError('INVALID_CREDENTIALS');
    return active;
  }

  /** A new refresh token (of `familyId`, else of a family of its own), stored as its hash. */
  private async storeRefreshToken(tx: Executor, userId: string, familyId?: string): Promise<string> {
    const now = this.clock.now();
    const refreshToken = `tgr_${randomBase62(48)}`;
    await repo.insertRefreshToken(tx, {
      id: newId('rtk', now.getTime()), userId, familyId: familyId ?? newId('rtk', now.getTime()),
      tokenHash: sha256Hex(refreshToken), expiresAt: new Date(now.getTime() + this.options.refreshTokenTtlSeconds * 1000),
      usedAt: null, revokedAt: null, createdAt: now,
    });
    return refreshToken;
  }

  private async tokenPair(userId: string, refreshToken: string, issuedAt?: Date): Promise<TokenPair> {
    const access = await this.tokens.issue(userId, issuedAt);
    return { accessToken: access.token, refreshToken, tokenType: 'Bearer', expiresIn: access.expiresIn };
  }

  /** Always succeeds from the caller's view, so it cannot be used to find accounts. */
  async requestPasswordReset(email: string): Promise<void> {
    const user = await inSystem(this.db, (tx) => this.tenancy.findUserByEmail(tx, email));
    if (!user || user.status !== 'active') return;
    const now = this.clock.now();
    const token = `tgp_${randomBase62(40)}`;
    await inSystem(this.db, (tx) => repo.insertResetToken(tx, {
      id: newId('prt', now.getTime()), userId: user.id, tokenHash: sha256Hex(token),
      expiresAt: new Date(now.getTime() + this.options.passwordResetTtlSeconds * 1000), usedAt: null, createdAt: now,
    }));
    const minutes = Math.round(this.options.passwordResetTtlSeconds / 60);
    await this.mailer.send({
      kind: 'password_reset', to: user.email, subject: 'Reset your password',
      text: this.options.passwordResetUrl
        ? `Someone asked to reset the password of ${user.email}. To choose a new one, open this link within ${minutes} minutes:\n\n` +
          `${mailLink(this.options.passwordResetUrl, token)}\n\nIf it was not you, ignore this mail: your password stays as it is.\n`
        : `Someone asked to reset the password of ${user.email}. Use this token within ${minutes} minutes to set a new password:\n\n${token}\n\n` +
          `POST ${this.options.publicUrl}/v1/password-reset/confirm {"token": "…", "password": "…"}\n\n` +
          'If it was not you, ignore this mail: your password stays as it is.\n',
    });
  }

  /**
   * Spends the token (and the user's other reset tokens), sets the password and signs the user out everywhere: refresh
   * tokens revoked, access tokens issued so far refused (TenancyService#endSessions),
   * announced to every process as the change commits. The caller is answered the same
   * whatever the token (API.md: always 202): a token unknown, spent or expired changes
   * nothing, and whether the password changed is returned here only, never shown. A
   * password too short is refused first, whatever the token, so that answer tells nothing.
   */
  async confirmPasswordReset(token: string, password: string): Promise<boolean> {
    this.assertPasswordStrength(password);
    // Hashed before the token is looked at: a bad token costs the caller the same time.
    const passwordHash = await hashPassword(password, this.options.scryptCost);
    const now = this.clock.now();
    const tokenHash = sha256Hex(token);
    const owner = await inSystem(this.db, (tx) => repo.findResetTokenUser(tx, tokenHash, now));
    if (!owner) return false;
    return this.tenancy.changeUser(owner, async (tx) => {
      // Spent here, under the change: of two confirmations racing, one wins.
      if (await repo.spendResetToken(tx, tokenHash, now) !== owner) return false;
      // The others asked for before it too: whoever could read the mailbox then is locked out now.
      await repo.spendResetTokensOf(tx, owner, now);
      await this.tenancy.resetPassword(tx, owner, passwordHash);
      await this.tenancy.endSessions(tx, owner);
      await repo.revokeAllOfUser(tx, owner, now);
      return true;
    });
  }

  private assertPasswordStrength(password: string): void {
    if (password.length < this.options.passwordMinLength) {
      throw new AppError('WEAK_PASSWORD', `the password needs at least ${this.options.passwordMinLength} characters`);
    }
  }

  /**
   * Every JWT credential comes through here: Tollgate's own access tokens and external
   * providers' tokens. Either way the result is a user principal whose status was just
   * read from the database.
   */
  async resolveJwt(token: string, client?: string): Promise<Principal> {
    const cacheKey = sha256Hex(token);
    // Concurrent calls with one token from one client share one check (and one point of
    // its guard); another client's check is its own, charged to it.
    const verified = await this.verified.load(cacheKey, () => this.verifyJwt(token, client), `${client ?? ''}\u0000${cacheKey}`, (v) => v.expiresAt * 1000);
    // A remembered token dies with its key: retired past its grace (a leaked key rotated out).
    if (verified!.kid !== undefined && !this.tokens.keyStillUsable(verified!.kid)) {
      this.verified.delete(cacheKey);
      throw new AppError('UNAUTHENTICATED');
    }
    const principal = verified!.principal;
    const user = await this.tenancy.checkUser(principal.userId);
    if (!user.ok) throw new AppError(user.error === 'USER_DEACTIVATED' ? 'USER_DEACTIVATED' : 'UNAUTHENTICATED');
    assertSessionLive(principal, user.value.sessionsValidAfter);
    return principal;
  }

  /**
   * A token not verified here yet. Tokens no issuer of ours could have signed are refused
   * for free; the signature check (for a provider, its keys and the user's link too) is
   * the cost a flood of made-up tokens would cause, so it takes a point of the client's
   * guard first and gives it back when the token is good. `client` is absent in-process.
   */
  private async verifyJwt(token: string, client: string | undefined): Promise<VerifiedToken> {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw new AppError('UNAUTHENTICATED');
    }
    const own = issuer === this.options.issuer;
    if (!own && !this.external.handles(issuer)) throw new AppError('UNAUTHENTICATED');
    // A bad token throws; a provider that cannot be asked is no fault of the token.
    return checkUnderGuard(this.guard, client, () => (own ? this.verifyOwn(token) : this.verifyExternal(token, issuer!)), () => true,
      (error) => error instanceof AppError && error.code === 'IDENTITY_PROVIDER_UNAVAILABLE');
  }

  private async verifyOwn(token: string): Promise<VerifiedToken> {
    const verified = await this.tokens.verify(token);
    if (!verified) throw new AppError('UNAUTHENTICATED');
    return { principal: { type: 'user', userId: verified.userId, credential: 'access_token', issuedAt: verified.issuedAt }, expiresAt: verified.expiresAt, kid: verified.kid };
  }

  private async verifyExternal(token: string, issuer: string): Promise<VerifiedToken> {
    const identity = await this.external.verify(token, issuer);
    if (!identity) throw new AppError('UNAUTHENTICATED');
    return { principal: { type: 'user', userId: await this.userForExternal(identity), credential: 'external_jwt' }, expiresAt: identity.expiresAt };
  }

  /**
   * Maps a provider identity to a user. Only an email the provider says is verified is
   * used: a new identity is provisioned with it (and its own personal tenant), or linked
   * to the account of that email when that account's email was verified too. An account
   * anyone could have made with someone else's address (a signup, which proves nothing of
   * the address) never gets the owner's provider sign-ins linked to it.
   */
  private async userForExternal(identity: ExternalIdentity): Promise<string> {
    const known = await inSystem(this.db, (tx) => repo.findExternalIdentity(tx, identity.provider, identity.subject));
    if (known) return known;
    if (!identity.email || !identity.emailVerified) throw new AppError('UNAUTHENTICATED');
    try {
      return await this.linkOrProvision(identity, identity.email);
    } catch (error) {
      // Two first sign-ins of one identity raced: the loser finds the winner's link.
      if (!(error instanceof AppError && error.code === 'EMAIL_TAKEN') && !isUniqueViolation(error)) throw error;
      const linked = await inSystem(this.db, (tx) => repo.findExternalIdentity(tx, identity.provider, identity.subject));
      if (!linked) throw error;
      return linked;
    }
  }

  private linkOrProvision(identity: ExternalIdentity, email: string): Promise<string> {
    return inSystem(this.db, async (tx) => {
      const existing = await this.tenancy.findUserByEmail(tx, email);
      let userId: string;
      if (existing) {
        if (!existing.emailVerifiedAt) throw new AppError('EMAIL_NOT_VERIFIED');
        userId = existing.id;
      } else {
        if (!identity.autoProvision) throw new AppError('UNAUTHENTICATED');
        const account = await this.tenancy.createAccount(tx, { email, name: identity.name, passwordHash: null, emailVerified: true }, {});
        userId = account.user.id;
      }
      await repo.insertExternalIdentity(tx, { provider: identity.provider, subject: identity.subject, userId, createdAt: this.clock.now() });
      return userId;
    });
  }

  /** Operators are users with the operator flag, read from the database now. */
  async requireOperator(principal: Principal): Promise<string> {
    if (principal.type !== 'user') throw new AppError('FORBIDDEN');
    const user = await this.tenancy.findUser(principal.userId);
    if (user) assertSessionLive(principal, user.sessionsValidAfter);
    if (!user?.isOperator || user.status !== 'active') throw new AppError('FORBIDDEN');
    return user.id;
  }

  /**
   * Creates an operator, or flags an existing user as one (its password unchanged) when the
   * password given is that user's: anyone may sign up with any email (signup does not
   * verify it), so an account that exists under the email is not assumed to be the
   * operator's — promoting it would hand the platform to whoever registered the address
   * first, with the password they chose. Idempotent, audited when it changes anything.
   * `source`: who asked (the CLI, the bootstrap variables), for the audit entry.
   */
  async ensureOperator(email: string, password: string, source: string): Promise<EnsuredOperator> {
    this.assertPasswordStrength(password);
    const passwordHash = await hashPassword(password, this.options.scryptCost);
    return inSystem(this.db, async (tx) => {
      const existing = await this.tenancy.findUserByEmail(tx, email);
      if (existing?.isOperator) return { outcome: 'already_operator', userId: existing.id };
      if (existing && !(existing.passwordHash && (await verifyPassword(password, existing.passwordHash)))) return { outcome: 'not_their_password', userId: existing.id };
      const user = existing ?? (await this.tenancy.createAccount(tx, { email, passwordHash }, {})).user;
      await this.tenancy.grantOperator(tx, user, source, !existing);
      return { outcome: existing ? 'granted' : 'created', userId: user.id };
    });
  }
}
