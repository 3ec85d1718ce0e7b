import { ConfigError } from '../sdk/errors.ts';

const HELP = `leadgate — every inquiry into the CRM, once.

Usage: npx leadgate <command> [options]

  start                      gateway + workers in one process (demo mode when no config)
  gateway                    the webhook gateway only (run any number)
  worker                     the delivery workers only (run any number)
  normalise <connector> <file|->
                             print what a raw request (HTTP request file or bare body) becomes
  jobs failed [--limit N]    list deliveries that failed, with the reason
  replay <jobId>|--since <ISO time>|--source <sourceId>
                             send failed deliveries again through the same idempotent steps
  doctor                     check Redis persistence, failed jobs and each CRM account; prints each fix
  emulator amocrm|bitrix24 [--port N]
                             run a local CRM emulator
  telegram set-webhook|delete-webhook|webhook-info|link|poll <sourceId>
                             manage a Telegram bot source (link --utm-source … prints a t.me deep link)
  oauth amocrm <accountId> <code>
                             exchange an amoCRM authorization code for tokens (stored in Redis)
  init [--crm amocrm|bitrix24 --url <account URL> --channels tilda,form,… --yes] [--force]
                             ask a few questions, write leadgate.yaml and a .env template
  new channel|crm <id> [--root <dir>]
                             scaffold a connector from connectors/_template and register it
  schema [--check]           write the JSON Schemas of the config and mapping files
  trace <event-id|phone|email> [--json]
                             one inquiry's path: received, normalised, outcome, delivery steps, CRM card
  report channels [--since 7d] [--tz Europe/Moscow] [--json]
                             leads, repeats, robots, missed calls, median times per channel, source, UTM
  help                       this text

Config: LEADGATE_CONFIG or ./leadgate.yaml (see leadgate.example.yaml). Redis: REDIS_URL, else 127.0.0.1:6379,
else an embedded redis-server under ./var/.`;

export async function runCli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP + '\n');
      return 0;
    case 'start':
    case 'gateway':
    case 'worker':
      return (await import('./serve.command.ts')).serve(cmd, rest);
    case 'normalise':
    case 'normalize':
      return (await import('./normalise.command.ts')).normaliseCommand(rest);
    case 'jobs':
    case 'replay':
      return (await import('./jobs.command.ts')).jobsCommand(cmd, rest);
    case 'doctor':
      return (await import('./doctor.command.ts')).doctorCommand(rest);
    case 'trace':
      return (await import('./trace.command.ts')).traceCommand(rest);
    case 'report':
      return (await import('./report.command.ts')).reportCommand(rest);
    case 'emulator':
      return (await import('./emulator.command.ts')).emulatorCommand(rest);
    case 'init':
      return (await import('./init.command.ts')).initCommand(rest);
    case 'new':
      return (await import('./new.command.ts')).newCommand(rest);
    case 'schema':
      return (await import('./schema.command.ts')).schemaCommand(rest);
    default: {
      const extra = await import('./extra-commands.ts').then((m) => m.extraCommands).catch(() => ({}) as Record<string, (a: string[]) => Promise<number>>);
      const run = extra[cmd];
      if (run) return run(rest);
      process.stderr.write(`unknown command "${cmd}"\n\n${HELP}\n`);
      return 2;
    }
  }
}

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) process.stderr.write(`Configuration error: ${err.message}\n`);
    else process.stderr.write(`leadgate: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
