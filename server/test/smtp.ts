import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail { from: string; to: string; subject: string; text: string }

export interface TestSmtp {
  /** smtp://user:password@127.0.0.1:port of this server. */
  url: string;
  password: string;
  received: ReceivedMail[];
  /** The next mail to `to` not yet taken by an earlier call (one already received counts), parsed. */
  mailTo(to: string): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/**
 * A real SMTP server on a free port (smtp-server), requiring a login, whose mails are
 * parsed with mailparser. Recipients in `refuse` are refused at RCPT TO, as a server
 * refusing an address would. No STARTTLS: it is loopback, and the certificate would be
 * self-signed.
 */
export async function startTestSmtp(options: { refuse?: string[] } = {}): Promise<TestSmtp> {
  const password = `smtp-pass-${Math.random().toString(36).slice(2)}`;
  const received: ReceivedMail[] = [];
  const unclaimed: ReceivedMail[] = [];
  const waiting: { to: string; resolve: (mail: ReceivedMail) => void }[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'], allowInsecureAuth: true, logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'tollgate' && auth.password === password) callback(null, { user: 'tollgate' });
      else callback(new Error('invalid login'));
    },
    onRcptTo(address, _session, callback) {
      if (options.refuse?.includes(address.address)) callback(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 }));
      else callback();
    },
    onData(stream, _session, callback) {
      simpleParser(stream).then((parsed) => {
        const to = Array.isArray(parsed.to) ? parsed.to[0]?.text : parsed.to?.text;
        const mail = { from: parsed.from?.text ?? '', to: to ?? '', subject: parsed.subject ?? '', text: parsed.text ?? '' };
        received.push(mail);
        const waiter = waiting.find((w) => w.to === mail.to);
        if (waiter) {
          waiting.splice(waiting.indexOf(waiter), 1);
          waiter.resolve(mail);
        } else {
          unclaimed.push(mail);
        }
        callback();
      }, callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://tollgate:${password}@127.0.0.1:${port}`,
    password,
    received,
    mailTo: (to) => {
      const there = unclaimed.find((mail) => mail.to === to);
      if (!there) return new Promise((resolve) => waiting.push({ to, resolve }));
      unclaimed.splice(unclaimed.indexOf(there), 1);
      return Promise.resolve(there);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
