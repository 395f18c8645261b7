import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { publishedConfigSchema } from '../config-schema.js';
import { openDatabase } from '../db/client.js';
import { StartError } from '../lib/errors.js';
import { serve } from './serve.js';
import { createDeps } from '../deps.js';
import { generateApiDocs } from './openapi.js';
import { progress } from './progress.js';
import { operatorCreate } from './operator.js';
import { REMOTE_USAGE } from './remote/index.js';
import { processIo, type Io } from './remote/io.js';

const USAGE = `tollgate — control plane for multi-tenant AI SaaS

Usage:
  tollgate serve [--config FILE]              start the HTTP server (migrates first)
  tollgate migrate [--config FILE]            apply pending database migrations and exit
  tollgate operator create [--email E]        create an operator (or flag an existing user
                                              whose password is the one given); the password
                                              is asked for (hidden), or read from the first
                                              line of stdin when it is not a terminal
  tollgate secrets reseal [--config FILE]     seal every stored secret again under the current
                                              TOLLGATE_SECRET_KEY (after a rotation; the old one
                                              set as TOLLGATE_SECRET_KEY_PREVIOUS)
  tollgate config check [--config FILE]       validate a config file and exit
  tollgate config schema [--out FILE]         print the config file's JSON Schema
  tollgate openapi [--out FILE] [--markdown FILE]
                                              print (or write) the OpenAPI document; --markdown
                                              also writes it as a Markdown reference

Environment: HOST, PORT, TOLLGATE_DATA_DIR, DATABASE_URL, TOLLGATE_CONFIG, REDIS_URL,
TOLLGATE_SECRET_KEY, TOLLGATE_SECRET_KEY_PREVIOUS, TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL / _PASSWORD, TOLLGATE_WORKERS,
TOLLGATE_SMTP_URL, TOLLGATE_MAIL_FROM, TOLLGATE_PUBLIC_URL, LOG_LEVEL.

${REMOTE_USAGE}`;

export async function runCli(argv: string[], io: Io = processIo()): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      // --password is parsed only to be refused with a word on why (operator.ts).
      config: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' },
      out: { type: 'string' }, markdown: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, sub] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 1;
  }
  try {
    if (command === 'config' && sub === 'schema') {
      const text = `${JSON.stringify(publishedConfigSchema(), null, 2)}\n`;
      if (values.out) writeFileSync(values.out, text);
      else process.stdout.write(text);
      return 0;
    }
    return await run(command, sub, values, positionals, loadConfig(values.config ? { configPath: values.config } : {}), io);
  } catch (error) {
    // A config that cannot serve (invalid, or missing a plan tenants are on): said plainly, exit 2.
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    // Something outside the command is in the way (the data directory in use, the port taken): one line, exit 1.
    if (error instanceof StartError) {
      console.error(`tollgate: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

interface Options { email?: string | undefined; password?: string | undefined; out?: string | undefined; markdown?: string | undefined }

async function run(command: string, sub: string | undefined, values: Options, positionals: string[], config: Config, io: Io): Promise<number> {
  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate': {
      const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, appRole: config.databaseAppRole, poolSize: 1,
        connectTimeoutSeconds: config.databaseConnectTimeoutSeconds, onProgress: progress });
      await database.close();
      console.log('migrations applied');
      return 0;
    }
    case 'openapi': {
      const docs = await generateApiDocs(config);
      if (values.out) writeFileSync(values.out, docs.json);
      else process.stdout.write(docs.json);
      if (values.markdown) writeFileSync(values.markdown, docs.markdown);
      return 0;
    }
    case 'config':
      if (sub === 'check') {
        console.log(`${config.configPath}: valid (${Object.keys(config.file.plans).length} plans, ${Object.keys(config.file.operations).length} operations)`);
        return 0;
      }
      break;
    case 'secrets':
      if (sub === 'reseal') {
        const deps = await createDeps(config, { onProgress: progress });
        try {
          const { signingKeys, routes, webhooks } = await deps.resealSecrets();
          console.log(`sealed again under the current master secret: ${signingKeys} signing ${signingKeys === 1 ? 'key' : 'keys'}, ${routes} provider ${routes === 1 ? 'route' : 'routes'}, ` +
            `${webhooks} webhook ${webhooks === 1 ? 'secret' : 'secrets'}` +
            (config.secretKeyPrevious.length > 0 ? '; TOLLGATE_SECRET_KEY_PREVIOUS may now be removed from every process' : ''));
        } finally {
          await deps.close();
        }
        return 0;
      }
      break;
    case 'operator':
      if (sub === 'create') return operatorCreate(values, config, io);
      break;
  }
  console.error(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
  return 2;
}
