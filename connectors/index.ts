/**
 * The explicit connector registry. A new connector adds one import and one array entry here;
 * the shared contract suites (test/contract) loop over these arrays.
 */
import type { ChannelConnector, CrmConnector } from '#sdk';
// channel imports
import { formChannel } from './channels/form/index.ts';
import { tildaChannel } from './channels/tilda/index.ts';
import { elementorChannel } from './channels/elementor/index.ts';
import { mangoChannel } from './channels/mango/index.ts';
import { zadarmaChannel } from './channels/zadarma/index.ts';
import { sipuniChannel } from './channels/sipuni/index.ts';
import { uisChannel } from './channels/uis/index.ts';
import { pbxChannel } from './channels/pbx/index.ts';
import { telegram } from './channels/telegram/index.ts';
import { email } from './channels/email/index.ts';
// crm imports
import { bitrix24Crm } from './crm/bitrix24/index.ts';
import { amocrm } from './crm/amocrm/index.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const channels: readonly ChannelConnector<any, any>[] = [
  // channels
  formChannel,
  tildaChannel,
  elementorChannel,
  mangoChannel,
  zadarmaChannel,
  sipuniChannel,
  uisChannel,
  pbxChannel,
  telegram,
  email,
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const crms: readonly CrmConnector<any>[] = [
  // crms
  bitrix24Crm,
  amocrm,
];

export function findChannel(id: string): ChannelConnector<unknown, unknown> | undefined {
  return channels.find((c) => c.id === id);
}
export function findCrm(id: string): CrmConnector<unknown> | undefined {
  return crms.find((c) => c.id === id);
}
