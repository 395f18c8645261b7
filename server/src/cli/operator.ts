/**
 * `tollgate operator create --email E`: makes an operator, or flags an existing user whose
 * password is the one given. The password is typed at a hidden prompt (twice, since it may
 * create the account) or read from the first line of stdin when stdin is not a terminal,
 * as `tollgate login` reads it — never from the command line, where `ps`, /proc/<pid>/cmdline
 * and the shell's history show it (and bin/tollgate.mjs hands its arguments to a child).
 */
import type { Config } from '../config.js';
import { createDeps } from '../deps.js';
import { Email } from '../http/schemas.js';
import { passesAsBody } from '../http/validation.js';
import { AppError } from '../lib/errors.js';
import { progress } from './progress.js';
import { readLine, type Io } from './remote/io.js';

export async function operatorCreate(options: { email?: string | undefined; password?: string | undefined }, config: Config, io: Io): Promise<number> {
  if (options.password !== undefined) {
    console.error('operator create: --password is not taken: a password on the command line shows in ps and the shell\'s history. '
      + 'Type it at the prompt, or give it on stdin: printf \'%s\\n\' "$PASSWORD" | tollgate operator create --email E');
    return 2;
  }
  if (!options.email && !io.stdin.isTTY) {
    console.error('operator create needs --email when stdin is not a terminal (the password is read from it)');
    return 2;
  }
  const email = options.email ?? await readLine(io, 'Email: ');
  // Signup's own rule: an operator made with another address could never sign in.
  if (!passesAsBody(Email, email)) {
    console.error('operator create: the email must be an email address, as signup takes');
    return 2;
  }
  const password = await readLine(io, 'Password: ', true);
  if (!password) {
    console.error('operator create needs a password: typed at the prompt, or the first line of stdin');
    return 2;
  }
  if (io.stdin.isTTY && await readLine(io, 'Password again: ', true) !== password) {
    console.error('operator create: the two passwords differ; nothing was changed');
    return 2;
  }
  const deps = await createDeps(config, { onProgress: progress });
  try {
    const { userId, outcome } = await deps.auth.ensureOperator(email, password, 'tollgate operator create');
    if (outcome === 'not_their_password') {
      console.error(`${userId} (${email}) exists and its password is not the one given: it is not made an operator `
        + '(anyone can sign up with any email). Give that user\'s password, or another email.');
      return 1;
    }
    console.log(outcome === 'created' ? `operator created: ${userId} (${email})`
      : outcome === 'already_operator' ? `${userId} (${email}) is already an operator; nothing changed`
        : `existing user ${userId} (${email}) is now an operator; its password is unchanged`);
    return 0;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    console.error(`operator create: ${error.message}`);
    return 2;
  } finally {
    await deps.close();
  }
}
