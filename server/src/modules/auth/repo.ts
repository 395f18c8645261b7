import { and, asc, eq, isNull, gt, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { externalIdentities, passwordResetTokens, refreshTokens, signingKeys } from './tables.js';

export type RefreshTokenRow = typeof refreshTokens.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;

export async function insertRefreshToken(db: Executor, row: RefreshTokenRow): Promise<void> {
  await db.insert(refreshTokens).values(row);
}

export async function findRefreshToken(db: Executor, tokenHash: string): Promise<RefreshTokenRow | undefined> {
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash));
  return row;
}

/** Holds a refresh-token family until the transaction ends: its tokens' presentations are taken one at a time. */
export async function lockFamily(db: Executor, familyId: string): Promise<void> {
  await db.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`refresh-family:${familyId}`}, 0))`);
}

/** Spends a refresh token: succeeds for exactly one caller, however many race. */
export async function spendRefreshToken(db: Executor, id: string, now: Date): Promise<boolean> {
  const rows = await db.update(refreshTokens).set({ usedAt: now })
    .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.usedAt), isNull(refreshTokens.revokedAt), gt(refreshTokens.expiresAt, now)))
    .returning({ id: refreshTokens.id });
  return rows.length === 1;
}

export async function revokeFamily(db: Executor, familyId: string, now: Date): Promise<void> {
  await db.update(refreshTokens).set({ revokedAt: now }).where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)));
}

export async function revokeAllOfUser(db: Executor, userId: string, now: Date): Promise<void> {
  await db.update(refreshTokens).set({ revokedAt: now }).where(and(eq(refreshTokens.userId, userId), isNull(refreshTokens.revokedAt)));
}

export async function insertResetToken(db: Executor, row: typeof passwordResetTokens.$inferInsert): Promise<void> {
  await db.insert(passwordResetTokens).values(row);
}

/** A reset token still usable: unspent and unexpired. */
const usableResetToken = (tokenHash: string, now: Date) =>
  and(eq(passwordResetTokens.tokenHash, tokenHash), isNull(passwordResetTokens.usedAt), gt(passwordResetTokens.expiresAt, now));

/** Whose unspent, unexpired reset token this is (the token is spent by spendResetToken). */
export async function findResetTokenUser(db: Executor, tokenHash: string, now: Date): Promise<string | undefined> {
  const [row] = await db.select({ userId: passwordResetTokens.userId }).from(passwordResetTokens).where(usableResetToken(tokenHash, now));
  return row?.userId;
}

/** One-time: only an unused, unexpired token is spent, and it returns its user. */
export async function spendResetToken(db: Executor, tokenHash: string, now: Date): Promise<string | undefined> {
  const [row] = await db.update(passwordResetTokens).set({ usedAt: now }).where(usableResetToken(tokenHash, now))
    .returning({ userId: passwordResetTokens.userId });
  return row?.userId;
}

/** Spends every reset token of the user still unspent: a reset done ends the others asked for before it. */
export async function spendResetTokensOf(db: Executor, userId: string, now: Date): Promise<void> {
  await db.update(passwordResetTokens).set({ usedAt: now }).where(and(eq(passwordResetTokens.userId, userId), isNull(passwordResetTokens.usedAt)));
}

export async function listSigningKeys(db: Executor): Promise<SigningKeyRow[]> {
  return db.select().from(signingKeys).orderBy(asc(signingKeys.createdAt));
}

export async function setSealedPrivateKey(db: Executor, kid: string, sealed: string): Promise<void> {
  await db.update(signingKeys).set({ privateJwkSealed: sealed }).where(eq(signingKeys.kid, kid));
}

export async function insertSigningKey(db: Executor, row: SigningKeyRow): Promise<void> {
  await db.insert(signingKeys).values(row);
}

export async function retireActiveKeys(db: Executor, now: Date): Promise<void> {
  await db.update(signingKeys).set({ retiredAt: now }).where(isNull(signingKeys.retiredAt));
}

export async function findExternalIdentity(db: Executor, provider: string, subject: string): Promise<string | undefined> {
  const [row] = await db.select({ userId: externalIdentities.userId }).from(externalIdentities)
    .where(and(eq(externalIdentities.provider, provider), eq(externalIdentities.subject, subject)));
  return row?.userId;
}

export async function insertExternalIdentity(db: Executor, row: typeof externalIdentities.$inferInsert): Promise<void> {
  await db.insert(externalIdentities).values(row);
}
