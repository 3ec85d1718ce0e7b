/** The gateway's per-IP budget per source: public forms tight, senders of every call event generous. */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.ts';
import { registry } from '../../src/runtime/load-runtime-config.ts';
import { sourceBudget } from '../../src/gateway/hooks.plugin.ts';

const config = resolveConfig(
  {
    file: '(test)',
    value: {
      sources: [
        { id: 'site', connector: 'tilda', name: 'Сайт' },
        { id: 'pbx', connector: 'mango', name: 'Mango', secretEnv: 'SB_SALT', settings: { apiKey: 'k' } },
        { id: 'bot', connector: 'telegram', name: 'Бот', secretEnv: 'SB_TG', settings: { tokenEnv: 'SB_TOKEN' } },
        { id: 'tuned', connector: 'form', name: 'Форма', rateLimitPerMinute: 30 },
      ],
    },
    lineOf: () => undefined,
  },
  registry,
  { SB_SALT: 'salt-0123456789', SB_TG: 'tg-secret-0123456789', SB_TOKEN: '123:abc' },
  resolve('.'),
);

describe('per-source budget at the gateway', () => {
  it('by kind unless set: forms 120, telephony and messengers 3000, unknown sources 60', () => {
    expect(sourceBudget(config.sources.get('site'))).toBe(120);
    expect(sourceBudget(config.sources.get('pbx'))).toBe(3000);
    expect(sourceBudget(config.sources.get('bot'))).toBe(3000);
    expect(sourceBudget(config.sources.get('tuned'))).toBe(30);
    expect(sourceBudget(undefined)).toBe(60);
  });
  it('the per-IP budget over all sources defaults to 6000 a minute', () => {
    expect(config.raw.gateway.rateLimitPerMinute).toBe(6000);
  });
});
