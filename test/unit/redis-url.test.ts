import { describe, expect, it } from 'vitest';
import { parseSentinelUrl } from '../../src/infra/redis.ts';

describe('REDIS_URL for Sentinel', () => {
  it('parses hosts, master name, password and db', () => {
    expect(parseSentinelUrl('redis-sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2/mymaster/2')).toEqual({
      sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }],
      name: 'mymaster',
      password: 's@cret',
      db: 2,
    });
  });
  it('leaves plain redis:// URLs alone', () => {
    expect(parseSentinelUrl('redis://127.0.0.1:6379')).toBeUndefined();
  });
});
