/**
 * The operator commands of `tollgate` (docs/cli.md): a client of a running Tollgate,
 * over HTTP through @tollgate/sdk. This folder imports nothing of the server (a lint rule
 * keeps it so): what an operator can do here is what the API lets them do.
 */
import { parseArgs } from 'node:util';
import { billingCommands } from './billing.js';
import type { Command, Invocation, OptionSpec } from './command.js';
import { processIo, readLine, type Io } from './io.js';
import { logCommands } from './logs.js';
import { EXIT, UsageError, failed, printer } from './output.js';
import { login, logout, serverUrl, signedInClient } from './session.js';
import { tenantCommands } from './tenants.js';

const COMMON_OPTIONS: OptionSpec = { url: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } };

const sessionCommands: Command[] = [
  {
    words: 'login',
    synopsis: 'login [--url URL] [--email EMAIL]',
    summary: 'sign in and store the session (the password is asked for, or read from stdin when it is not a terminal)',
    options: { email: { type: 'string' } },
    run: async (call) => {
      if (!call.io.stdin.isTTY && !call.options.email) throw new UsageError('give --email when stdin is not a terminal (the password is read from it)');
      const email = typeof call.options.email === 'string' ? call.options.email : await readLine(call.io, 'Email: ');
      const password = await readLine(call.io, 'Password: ', true);
      if (!email || !password) throw new UsageError('an email and a password are needed');
      const who = await login(call.io, call.url, email, password);
      call.out.result({ url: call.url, email: who.email, isOperator: who.isOperator, credentialsFile: who.file },
        () => `signed in to ${call.url} as ${who.email} (session stored in ${who.file})`);
      if (!who.isOperator) call.out.note('note: this user is no operator; the operator commands will be refused (403)');
    },
  },
  {
    words: 'logout',
    synopsis: 'logout',
    summary: 'forget the stored session',
    run: async (call) => {
      const had = await logout(call.io);
      call.out.result({ signedOut: had }, () => (had ? 'signed out' : 'no stored session'));
    },
  },
];

export const REMOTE_COMMANDS: readonly Command[] = [...sessionCommands, ...tenantCommands, ...billingCommands, ...logCommands];
const FIRST_WORDS = new Set(REMOTE_COMMANDS.map((command) => command.words.split(' ')[0]));

export const REMOTE_USAGE = `Operator commands (over HTTP, to TOLLGATE_URL or the server of \`tollgate login\`; add --json for scripts):
${REMOTE_COMMANDS.map((command) => `  tollgate ${command.synopsis}\n      ${command.summary}`).join('\n')}

Exit codes: ${EXIT.OK} done · ${EXIT.REFUSED} the server refused (4xx) · ${EXIT.USAGE} wrong command line · ${EXIT.UNAVAILABLE} server unreachable or failing (5xx)
· ${EXIT.UNAUTHENTICATED} not signed in, or the credential was refused (401) · ${EXIT.INTERNAL} a fault of the CLI.
Environment: TOLLGATE_URL, TOLLGATE_TOKEN (both win over what login stored), XDG_CONFIG_HOME.`;

/** Whether `tollgate <word> …` is one of these commands. */
export function isRemoteCommand(word: string | undefined): boolean {
  return word !== undefined && FIRST_WORDS.has(word);
}

export async function runRemoteCli(argv: string[], io: Io = processIo()): Promise<number> {
  const json = argv.includes('--json');
  const command = REMOTE_COMMANDS.find((candidate) => candidate.words.split(' ').every((word, i) => argv[i] === word));
  if (!command) return groupHelp(io, argv);
  const usage = `Usage: tollgate ${command.synopsis}\n  ${command.summary}\n  common options: --url URL, --json, --help`;
  try {
    const { values, positionals } = parse(argv.slice(command.words.split(' ').length), { ...COMMON_OPTIONS, ...command.options });
    if (values.help) {
      io.stdout.write(`${usage}\n`);
      return EXIT.OK;
    }
    const url = serverUrl(io, typeof values.url === 'string' ? values.url : undefined);
    let client: ReturnType<Invocation['client']> | undefined;
    await command.run({ io, out: printer(io, json), args: positionals, options: values, url, client: () => (client ??= signedInClient(io, url)) });
    return EXIT.OK;
  } catch (error) {
    return failed(io, json, error, usage);
  }
}

/** `tollgate tenants` (no subcommand, or an unknown one): the commands of that word. */
function groupHelp(io: Io, argv: string[]): number {
  const group = REMOTE_COMMANDS.filter((command) => command.words.startsWith(`${argv[0]} `));
  const asked = argv.length === 2 && (argv[1] === '--help' || argv[1] === '-h');
  const text = group.map((command) => `  tollgate ${command.synopsis}\n      ${command.summary}`).join('\n');
  if (asked) {
    io.stdout.write(`${text}\n`);
    return EXIT.OK;
  }
  io.stderr.write(`tollgate: unknown command: ${argv.slice(0, 2).join(' ')}\n\n${text || REMOTE_USAGE}\n`);
  return EXIT.USAGE;
}

// parseArgs reads "-50" as the options -5 and -0; a negative number here is always a value (credits grant TENANT -50).
const NEGATIVE_NUMBER = /^-\d+$/;
const MARK = '\u0000';

function parse(args: string[], options: OptionSpec): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const unmark = (value: string) => (value.startsWith(MARK) ? value.slice(MARK.length) : value);
  try {
    const parsed = parseArgs({ args: args.map((arg) => (NEGATIVE_NUMBER.test(arg) ? MARK + arg : arg)), options, allowPositionals: true, strict: true });
    const values = Object.fromEntries(Object.entries(parsed.values).map(([name, value]) => [name, typeof value === 'string' ? unmark(value) : value as boolean | undefined]));
    return { values, positionals: parsed.positionals.map(unmark) };
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
}
