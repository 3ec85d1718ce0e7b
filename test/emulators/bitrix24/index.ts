/** Bitrix24 REST emulator for tests: see app.ts for the routes and pipeline, options.ts for the knobs. */
export { buildBitrixEmulator, ERROR_BODIES, type BitrixEmulator } from './app.ts';
export { startBitrixEmulator, type RunningBitrixEmulator, type StartBitrixEmulatorOptions } from './start.ts';
export { FaultController, type FaultAction, type FaultScope, type LostAnswerScope, type MethodMatcher } from './faults.ts';
export { EmulatorStats, type RequestLogEntry } from './stats.ts';
export { BitrixState, type Activity, type DealCategory, type ExternalCall, type PortalUser, type StatusItem, type TaskRecord, type TimelineComment } from './state.ts';
export { TokenStore, type TokenPair } from './oauth.ts';
export { ALL_SCOPES, DEFAULT_USER_FIELDS, DEFAULT_USERS, type BitrixEmulatorOptions, type UserSeed } from './options.ts';
export { corePhoneKey, docsPhoneKey } from './phone.ts';
export { MAX_BATCH_COMMANDS } from './methods/batch.ts';
export { RestError, type CrmEntityKind, type CrmItem, type MultiFieldValue, type UserFieldDef, type WebhookConfig } from './types.ts';
