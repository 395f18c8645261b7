/** The operator commands' only contact with their process: the environment, the terminal, the output streams. */
import { homedir } from 'node:os';
import { createInterface } from 'node:readline';
import { Writable, type Readable } from 'node:stream';

export interface Io {
  env: Readonly<Record<string, string | undefined>>;
  stdout: Writable;
  stderr: Writable;
  stdin: Readable & { isTTY?: boolean };
  /** Where stored credentials live (see session.ts): the platform's per-user config directory. */
  homeDir: string;
  platform: NodeJS.Platform;
}

export function processIo(): Io {
  return { env: process.env, stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, homeDir: homedir(), platform: process.platform };
}

/** One line from stdin (a password piped in by a script), or a prompt for it on a terminal; hidden when `secret`. */
export async function readLine(io: Io, prompt: string, secret = false): Promise<string> {
  if (!io.stdin.isTTY) return firstLine(io.stdin);
  io.stderr.write(prompt);
  // On a terminal readline echoes what is typed itself (raw mode): into nothing, for a secret.
  const lines = createInterface({ input: io.stdin, terminal: true, output: secret ? new Writable({ write: (_chunk, _encoding, done) => done() }) : io.stderr });
  try {
    return await new Promise<string>((resolve) => lines.once('line', resolve));
  } finally {
    lines.close();
    if (secret) io.stderr.write('\n');
  }
}

async function firstLine(input: Readable): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += String(chunk);
    const end = text.indexOf('\n');
    if (end >= 0) return text.slice(0, end).replace(/\r$/, '');
  }
  return text;
}
