import { createTransport } from 'nodemailer';
import type { Logger } from 'pino';

export interface MailMessage {
  to: string;
  subject: string;
  /** The body: it carries the secret (a reset token, an invitation link), so it is never logged. */
  text: string;
  /** What the mail is, for the log line about it. */
  kind: 'password_reset' | 'invitation' | 'webhook_disabled';
}

/** Delivery is pluggable: SMTP, none (logged as not sent), or memory (tests, embedding hosts). */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
  /** Waits for mails on their way, then lets go of the connection. */
  close?(): Promise<void>;
}

/** Seconds a mail server may take to answer each step before the mail counts as not sent. */
const SMTP_TIMEOUT_MS = 10_000;

const smtpTransport = (url: string) =>
  createTransport({ url, connectionTimeout: SMTP_TIMEOUT_MS, greetingTimeout: SMTP_TIMEOUT_MS, socketTimeout: SMTP_TIMEOUT_MS });

/** A mail server by URL (smtp://user:password@host:587, smtps://…:465), through nodemailer. */
export class SmtpMailer implements Mailer {
  private readonly transport: ReturnType<typeof smtpTransport>;

  constructor(url: string, private readonly from: string) {
    this.transport = smtpTransport(url);
  }

  async send(message: MailMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text });
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/** No mail server configured: nothing is sent, and the log says which mail was not (never what it held). */
export class UnsentMailer implements Mailer {
  constructor(private readonly logger: Pick<Logger, 'warn'>) {}
  async send(message: MailMessage): Promise<void> {
    this.logger.warn({ mail: { kind: message.kind, to: message.to } }, `mail not sent (no SMTP server configured: set TOLLGATE_SMTP_URL): ${message.kind} to ${message.to}`);
  }
}

/** Keeps messages in memory: for embedding hosts and tests that read the outbox. */
export class MemoryMailer implements Mailer {
  readonly outbox: MailMessage[] = [];
  async send(message: MailMessage): Promise<void> {
    this.outbox.push(message);
  }
}

/**
 * Sends off the request's path: the caller is answered at once, so a slow mail server
 * holds no request and the answer's timing tells nothing (a password reset for an
 * unknown email sends nothing). Each outcome is logged with the mail's kind and
 * recipient, a failure with the server's reason; never the body.
 */
export class BackgroundMailer implements Mailer {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly transport: Mailer, private readonly logger: Pick<Logger, 'info' | 'error'>) {}

  async send(message: MailMessage): Promise<void> {
    const mail = { kind: message.kind, to: message.to };
    const sending = this.transport.send(message).then(
      () => { this.logger.info({ mail }, `mail sent: ${message.kind} to ${message.to}`); },
      (error: unknown) => {
        const { code, responseCode, message: reason } = error as { code?: string; responseCode?: number; message?: string };
        this.logger.error({ mail, code, responseCode, reason: String(reason).split('\n')[0] }, `mail not sent: ${message.kind} to ${message.to}`);
      },
    ).finally(() => { this.inFlight.delete(sending); });
    this.inFlight.add(sending);
  }

  async close(): Promise<void> {
    await Promise.all(this.inFlight);
    await this.transport.close?.();
  }
}

/** A link of a mail: the configured template with {token} filled in. */
export function mailLink(template: string, token: string): string {
  return template.replaceAll('{token}', encodeURIComponent(token));
}

/** Where mail goes, for a person: the server's host and port, never its credentials. */
export function describeMailer(smtpUrl: string | undefined): string {
  if (!smtpUrl) return 'not configured (TOLLGATE_SMTP_URL): password-reset and invitation mails are not sent';
  const url = new URL(smtpUrl);
  return `SMTP ${url.hostname}:${url.port || (url.protocol === 'smtps:' ? 465 : 587)}`;
}
