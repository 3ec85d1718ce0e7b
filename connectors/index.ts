/**
 * The explicit connector registry. A new connector adds one import and one array entry here;
 * the shared contract suites (test/contract) loop over these arrays.
 */
import type { ChannelConnector, CrmConnector } from '#sdk';
// channel imports
import { formChannel } from './channels/form/index.ts';
import { tildaChannel } from './channels/tilda/index.ts';
import { elementorChannel } from './channels/elementor/index.ts';
// crm imports

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const channels: readonly ChannelConnector<any, any>[] = [
  // channels
  formChannel,
  tildaChannel,
  elementorChannel,
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const crms: readonly CrmConnector<any>[] = [
  // crms
];

export function findChannel(id: string): ChannelConnector<unknown, unknown> | undefined {
  return channels.find((c) => c.id === id);
}
export function findCrm(id: string): CrmConnector<unknown> | undefined {
  return crms.find((c) => c.id === id);
}
