/** Commands contributed by channel/CRM features (telegram, oauth, doctor). Keys are the first CLI word. */
export const extraCommands: Record<string, (args: string[]) => Promise<number>> = {};
