import { isRemoteCommand, runRemoteCli } from './cli/remote/index.js';

const argv = process.argv.slice(2);
// The operator commands are an HTTP client (cli/remote): they load nothing of the server, so they start fast.
process.exitCode = isRemoteCommand(argv[0]) ? await runRemoteCli(argv) : await (await import('./cli/index.js')).runCli(argv);
