export { buildAmoEmulator, type AmoEmulator } from './app.ts';
export { startAmoEmulator, type RunningAmoEmulator, type StartAmoEmulatorOptions } from './start.ts';
export type { AmoEmulatorOptions, BlockOptions, OAuthOptions, RateLimitOptions } from './options.ts';
export type { AmoState, EntityCounts } from './state.ts';
export type { EmulatorStats, RequestLogEntry } from './stats.ts';
export type { Faults, FaultMatch, FaultRule, GatewayStatus } from './faults.ts';
export { SEED, TRACKING_FIELD_CODES } from './seed.ts';
export type * from './types.ts';
