import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLogger, startTestApp, uniqueEmail, type TestApp } from './harness.js';
import { startTestSmtp, type TestSmtp } from './smtp.js';

/** Mail over real SMTP (nodemailer → smtp-server, parsed with mailparser), and what is logged without it. */
let smtp: TestSmtp;
let t: TestApp;
let logs: string[];
const REFUSED = 'refused@example.com';

beforeAll(async () => {
  smtp = await startTestSmtp({ refuse: [REFUSED] });
  const captured = capturedLogger();
  logs = captured.lines;
  t = await startTestApp({
    configuredMailer: true, logger: captured.logger,
    env: { TOLLGATE_SMTP_URL: smtp.url, TOLLGATE_MAIL_FROM: 'Acme <no-reply@acme.test>' },
    patch: (file) => { file.mail.passwordResetUrl = 'https://app.acme.test/reset?token={token}'; },
  });
});
afterAll(async () => {
  await t.close();
  await smtp.close();
});

const waitFor = async (found: () => boolean) => {
  for (let i = 0; i < 200 && !found(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
};

describe('over SMTP', () => {
  it('a password reset mails a link whose token sets the new password, once', async () => {
    const user = await t.signup();
    expect((await t.request({ method: 'POST', url: '/v1/password-reset', payload: { email: user.email } })).statusCode).toBe(202);
    const mail = await smtp.mailTo(user.email);
    expect(mail.from).toBe('"Acme" <no-reply@acme.test>');
    expect(mail.subject).toBe('Reset your password');
    const token = /https:\/\/app\.acme\.test\/reset\?token=(tgp_[0-9A-Za-z]+)/.exec(mail.text)?.[1];
    expect(token, mail.text).toBeDefined();

    const confirm = { token, password: 'a-new-password-after-reset' };
    expect((await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: confirm })).statusCode).toBe(202);
    const signIn = (password: string) => t.request({ method: 'POST', url: '/v1/token', payload: { grantType: 'password', email: user.email, password } });
    expect((await signIn('a-new-password-after-reset')).statusCode).toBe(200);
    expect((await signIn(user.password)).statusCode).toBe(401);
    await t.request({ method: 'POST', url: '/v1/password-reset/confirm', payload: { ...confirm, password: 'a-third-password-xx' } });
    expect((await signIn('a-third-password-xx')).statusCode).toBe(401);
  });

  it('an invitation mails the accept call, which the invitee can make', async () => {
    const owner = await t.signup();
    const invitee = await t.signup();
    const tenantId = (await t.request({ method: 'POST', url: '/v1/tenants', token: owner.accessToken, payload: { name: 'Acme Writers' } })).json().id;
    const created = await t.request({ method: 'POST', url: `/v1/tenants/${tenantId}/invitations`, token: owner.accessToken, payload: { email: invitee.email, role: 'admin' } });
    expect(created.statusCode).toBe(201);
    const mail = await smtp.mailTo(invitee.email);
    expect(mail.subject).toBe('You are invited to join Acme Writers');
    expect(mail.text).toContain('as admin');
    const accept = /POST (http:\/\/\S+\/v1\/invitations\/(tgi_[0-9A-Za-z]+)\/accept)/.exec(mail.text);
    expect(accept?.[2]).toBe(created.json().token);
    const accepted = await t.request({ method: 'POST', url: new URL(accept![1]!).pathname, token: invitee.accessToken });
    expect(accepted.json()).toEqual({ tenantId, role: 'admin' });
  });

  it('a mail the server refuses is logged as not sent, with the reason and never the token; the call still succeeds', async () => {
    const owner = await t.signup();
    const created = await t.request({ method: 'POST', url: `/v1/tenants/${owner.tenantId}/invitations`, token: owner.accessToken, payload: { email: REFUSED, role: 'member' } });
    expect(created.statusCode).toBe(201);
    await waitFor(() => logs.some((line) => line.includes(`mail not sent: invitation to ${REFUSED}`)));
    const line = JSON.parse(logs.find((l) => l.includes(`mail not sent: invitation to ${REFUSED}`))!);
    expect(line).toMatchObject({ level: 50, mail: { kind: 'invitation', to: REFUSED }, responseCode: 550 });
    expect(logs.join('\n')).not.toContain(created.json().token);
    expect(logs.join('\n')).toContain('mail sent: password_reset to');
  });
});

describe('without SMTP', () => {
  it('says so at start, and logs each mail not sent without what it held', async () => {
    const { lines, logger } = capturedLogger();
    const bare = await startTestApp({ configuredMailer: true, logger });
    try {
      expect(lines.some((line) => line.includes('no SMTP server configured (TOLLGATE_SMTP_URL)'))).toBe(true);
      const user = await bare.signup(uniqueEmail('nosmtp'));
      expect((await bare.request({ method: 'POST', url: '/v1/password-reset', payload: { email: user.email } })).statusCode).toBe(202);
      const invited = (await bare.request({ method: 'POST', url: `/v1/tenants/${user.tenantId}/invitations`, token: user.accessToken, payload: { email: 'x@example.com', role: 'member' } })).json();
      const notSent = lines.filter((line) => line.includes('mail not sent')).map((line) => JSON.parse(line));
      expect(notSent.map((l) => l.mail)).toEqual([{ kind: 'password_reset', to: user.email }, { kind: 'invitation', to: 'x@example.com' }]);
      expect(lines.join('\n')).not.toMatch(/tgp_[0-9A-Za-z]{10}/);
      expect(lines.join('\n')).not.toContain(invited.token);
    } finally {
      await bare.close();
    }
  });
});
