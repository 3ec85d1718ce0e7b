/** Everything a connector may import. Connectors import from '#sdk' only (plus their own folder). */
export * from './lead.ts';
export * from './errors.ts';
export * from './channel.ts';
export * from './crm.ts';
export * from './decode.ts';
export { parsePhone, parsePhones, formatPhone, findPhonesInText, phoneTail10, maskPhone } from '../domain/phone.ts';
export type { CountryCode, PhoneFormat } from '../domain/phone.ts';
export { extractAttribution, isAttributionKey } from '../domain/attribution.ts';
export { classifyRobotMail, LOOP_HEADER_PREFIX, ROBOT_MAIL_HEADERS } from '../domain/robot-mail.ts';
export { referencedIds, signatureBlock, stripQuotedHistory, stripSubjectPrefixes } from '../domain/mail-thread.ts';
export { isTimeZone, localToIso } from '../domain/local-time.ts';
export { TimeoutError, withTimeout } from './timeout.ts';
export { ignoredOutcome, callOutcome } from './outcome.ts';
export { safeEqual } from './safe-equal.ts';
