import basicAuth from '@fastify/basic-auth';
import type { FastifyInstance } from 'fastify';
import { safeEqual } from '../sdk/safe-equal.ts';

/** The operator login for /admin/queues and /reports: both env vars set, or those pages stay off. */
export interface AdminCredentials {
  user: string;
  password: string;
}

export function adminCredentials(env: Readonly<Record<string, string | undefined>>): AdminCredentials | undefined {
  const user = env.LEADGATE_ADMIN_USER;
  const password = env.LEADGATE_ADMIN_PASSWORD;
  return user && password ? { user, password } : undefined;
}

/** Puts every route of `scope` behind HTTP basic auth with the admin login. */
export async function requireAdmin(scope: FastifyInstance, c: AdminCredentials): Promise<void> {
  await scope.register(basicAuth, {
    authenticate: { realm: 'Leadgate admin' },
    async validate(u, p) {
      // Both compared in constant time, both always compared: no hint which one was wrong.
      const ok = [safeEqual(u, c.user), safeEqual(p, c.password)].every(Boolean);
      if (!ok) return new Error('wrong admin user or password');
    },
  });
  scope.addHook('onRequest', scope.basicAuth);
}
