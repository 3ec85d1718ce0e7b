/** `leadgate emulator amocrm|bitrix24 [--port N]`: the local CRM emulators used by tests and demo mode. */
export async function emulatorCommand(args: string[]): Promise<number> {
  const [which] = args;
  const portIdx = args.indexOf('--port');
  const port = portIdx >= 0 ? Number(args[portIdx + 1]) : which === 'bitrix24' ? 3102 : 3101;
  if (which === 'amocrm') {
    const { startAmoEmulator } = await import('../../test/emulators/amocrm/start.ts');
    const emu = await startAmoEmulator({ port });
    process.stdout.write(`amoCRM emulator at ${emu.url}\nlong-lived token: ${emu.token}\n`);
    return -1;
  }
  if (which === 'bitrix24') {
    const { startBitrixEmulator } = await import('../../test/emulators/bitrix24/start.ts');
    const emu = await startBitrixEmulator({ port });
    process.stdout.write(`Bitrix24 emulator at ${emu.url}\nwebhook URL: ${emu.webhookUrl}\n`);
    return -1;
  }
  process.stderr.write('usage: leadgate emulator amocrm|bitrix24 [--port N]\n');
  return 2;
}
