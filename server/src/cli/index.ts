import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { publishedConfigSchema } from '../config-schema.js';
import { openDatabase } from '../db/client.js';
import { serve } from './serve.js';
import { createDeps } from '../deps.js';
import { REMOTE_USAGE } from './remote/index.js';

const USAGE = `tollgate — control plane for multi-tenant AI SaaS

Usage:
  tollgate serve [--config FILE]              start the HTTP server (migrates first)
  tollgate migrate [--config FILE]            apply pending database migrations and exit
  tollgate operator create --email E --password P
                                              create an operator (or flag an existing user)
  tollgate config check [--config FILE]       validate a config file and exit
  tollgate config schema [--out FILE]         print the config file's JSON Schema

Environment: HOST, PORT, TOLLGATE_DATA_DIR, DATABASE_URL, TOLLGATE_CONFIG, REDIS_URL,
TOLLGATE_SECRET_KEY, TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL / _PASSWORD, TOLLGATE_WORKERS, LOG_LEVEL.

${REMOTE_USAGE}`;

export async function runCli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' },
      out: { type: 'string' }, help: { type: 'boolean', short: 'h' },
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
    return await run(command, sub, values, positionals, loadConfig(values.config ? { configPath: values.config } : {}));
  } catch (error) {
    // A config that cannot serve (invalid, or missing a plan tenants are on): said plainly, exit 2.
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}

async function run(command: string, sub: string | undefined, values: { email?: string | undefined; password?: string | undefined }, positionals: string[], config: Config): Promise<number> {
  switch (command) {
    case 'serve':
      return serve(config);
    case 'migrate': {
      const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, appRole: config.databaseAppRole, poolSize: 1,
        connectTimeoutSeconds: config.databaseConnectTimeoutSeconds });
      await database.close();
      console.log('migrations applied');
      return 0;
    }
    case 'config':
      if (sub === 'check') {
        console.log(`${config.configPath}: valid (${Object.keys(config.file.plans).length} plans, ${Object.keys(config.file.operations).length} operations)`);
        return 0;
      }
      break;
    case 'operator':
      if (sub === 'create') {
        if (!values.email || !values.password) {
          console.error('operator create needs --email and --password');
          return 2;
        }
        const deps = await createDeps(config);
        try {
          const { userId, created } = await deps.auth.ensureOperator(values.email, values.password);
          console.log(created ? `operator created: ${userId}` : `existing user ${userId} is now an operator`);
        } finally {
          await deps.close();
        }
        return 0;
      }
      break;
  }
  console.error(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
  return 2;
}
