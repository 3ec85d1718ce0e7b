/**
 * A small Telegram Bot API emulator (forms-telegram-email.md §B6): `POST|GET /bot<token>/<method>`
 * answering `{"ok":true,"result":…}` or Telegram's error bodies, recording every call. Methods:
 * getMe, sendMessage, answerCallbackQuery, setWebhook, deleteWebhook, getWebhookInfo, getUpdates
 * (long poll with offset), getFile (+ `GET /file/bot<token>/<path>`). Fault switch: 429 + retry_after.
 *
 *   const emu = await startTelegramEmulator();
 *   const bot = new Telegraf(TOKEN, { telegram: { apiRoot: emu.url } });
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';

export const DEFAULT_TOKEN = '7000000001:AAH-emulator-token_0123456789abcdef';

export interface TelegramEmulatorOptions {
  /** Accepted tokens; others get 401. @defaultValue [DEFAULT_TOKEN] */
  tokens?: string[];
  /** The bot's username as getMe reports it. @defaultValue acme_leads_bot */
  username?: string;
  /** Accept http:// webhook URLs (the real API demands HTTPS). @defaultValue false */
  allowInsecureWebhook?: boolean;
  /** Longest getUpdates wait honoured, in seconds. @defaultValue 50 */
  maxPollTimeoutSec?: number;
}

export interface RecordedCall {
  token: string;
  method: string;
  params: Record<string, unknown>;
  /** HTTP status we answered. */
  status: number;
}

interface WebhookState {
  url: string;
  secretToken?: string;
  allowedUpdates?: string[];
  maxConnections: number;
}

interface Waiter {
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export interface TelegramEmulator {
  app: FastifyInstance;
  calls: RecordedCall[];
  /** Calls of one method, in order. */
  callsTo(method: string): RecordedCall[];
  /** Queue an update for getUpdates; `update_id` is assigned (one above the last). Returns it. */
  pushUpdate(update: Record<string, unknown>): number;
  /** A file getFile can describe and `/file/bot<token>/<path>` can serve. */
  addFile(fileId: string, file: { path: string; bytes: Buffer }): void;
  /** sendMessage to this chat answers 403 "bot was blocked by the user". */
  blockChat(chatId: number): void;
  /** The next `times` calls (of `method`, or of any method) answer 429 with `retry_after`. */
  rateLimit(times: number, retryAfterSec: number, method?: string): void;
  readonly webhook: WebhookState | undefined;
  reset(): void;
}

const SECRET_TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export function buildTelegramEmulator(options: TelegramEmulatorOptions = {}): TelegramEmulator {
  const tokens = new Set(options.tokens ?? [DEFAULT_TOKEN]);
  const username = options.username ?? 'acme_leads_bot';
  const maxPollSec = options.maxPollTimeoutSec ?? 50;

  let calls: RecordedCall[] = [];
  let updates: Record<string, unknown>[] = [];
  let lastUpdateId = 730_114_000;
  let messageId = 100;
  let webhook: WebhookState | undefined;
  const files = new Map<string, { path: string; bytes: Buffer }>();
  const blocked = new Set<number>();
  let faults: { times: number; retryAfterSec: number; method?: string }[] = [];
  let waiters: Waiter[] = [];
  // A second getUpdates ends the pending one with 409, as Telegram does.
  let pendingPoll: (() => void) | undefined;

  const wakeAll = (): void => {
    const ws = waiters;
    waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.resolve();
    }
  };

  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))));
  });
  app.addHook('preClose', (done) => {
    pendingPoll?.();
    wakeAll();
    done();
  });

  // The call each reply answers: its status is recorded before the answer is written.
  const callOf = new WeakMap<FastifyReply, RecordedCall>();
  const ok = (reply: FastifyReply, result: unknown, description?: string): FastifyReply => {
    const call = callOf.get(reply);
    if (call) call.status = 200;
    return reply.code(200).send({ ok: true, result, ...(description ? { description } : {}) });
  };
  const fail = (reply: FastifyReply, status: number, description: string, parameters?: Record<string, unknown>): FastifyReply => {
    const call = callOf.get(reply);
    if (call) call.status = status;
    return reply.code(status).send({ ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) });
  };

  app.get('/file/bot:token/*', (req, reply) => {
    const { token } = req.params as { token: string };
    const path = (req.params as { '*': string })['*'];
    if (!tokens.has(token)) return fail(reply, 401, 'Unauthorized');
    const file = [...files.values()].find((f) => f.path === path);
    if (!file) return fail(reply, 404, 'Not Found');
    return reply.code(200).type('application/octet-stream').send(file.bytes);
  });

  app.route({
    method: ['GET', 'POST'],
    url: '/*',
    handler: async (req, reply) => {
      const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.url.split('?')[0] ?? '');
      if (!m) return fail(reply, 404, 'Not Found');
      const token = decodeURIComponent(m[1]!);
      const method = m[2]!;
      const body = typeof req.body === 'object' && req.body !== null ? (req.body as Record<string, unknown>) : {};
      const params: Record<string, unknown> = { ...(req.query as Record<string, unknown>), ...body };
      const call: RecordedCall = { token, method, params, status: 200 };
      calls.push(call);
      callOf.set(reply, call);
      // A FastifyReply is thenable: awaiting handle() waits for the answer to be written.
      await handle(token, method, params, reply);
      return reply;
    },
  });

  async function handle(token: string, method: string, params: Record<string, unknown>, reply: FastifyReply): Promise<FastifyReply> {
    if (!tokens.has(token)) return fail(reply, 401, 'Unauthorized');
    const fault = faults.find((f) => f.times > 0 && (f.method === undefined || f.method === method));
    if (fault) {
      fault.times--;
      faults = faults.filter((f) => f.times > 0);
      return fail(reply, 429, `Too Many Requests: retry after ${fault.retryAfterSec}`, { retry_after: fault.retryAfterSec });
    }
    const botId = Number(token.split(':')[0]);
    const me = { id: botId, is_bot: true, first_name: 'Leads', username };
    switch (method) {
      case 'getMe':
        return ok(reply, { ...me, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false });
      case 'sendMessage': {
        const chatId = Number(params.chat_id);
        if (params.chat_id === undefined || params.chat_id === '') return fail(reply, 400, 'Bad Request: chat_id is empty');
        if (typeof params.text !== 'string' || params.text.trim() === '') return fail(reply, 400, 'Bad Request: message text is empty');
        if (params.text.length > 4096) return fail(reply, 400, 'Bad Request: message is too long');
        if (blocked.has(chatId)) return fail(reply, 403, 'Forbidden: bot was blocked by the user');
        return ok(reply, { message_id: ++messageId, from: me, chat: { id: chatId, type: chatId > 0 ? 'private' : 'supergroup' }, date: Math.floor(Date.now() / 1000), text: params.text });
      }
      case 'answerCallbackQuery':
        if (typeof params.callback_query_id !== 'string' || params.callback_query_id === '') return fail(reply, 400, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
        return ok(reply, true);
      case 'setWebhook': {
        const url = typeof params.url === 'string' ? params.url : '';
        if (url === '') {
          webhook = undefined;
          return ok(reply, true, 'Webhook was deleted');
        }
        if (!url.startsWith('https://') && !(options.allowInsecureWebhook && url.startsWith('http://'))) return fail(reply, 400, 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook');
        const secret = params.secret_token;
        if (secret !== undefined && (typeof secret !== 'string' || !SECRET_TOKEN.test(secret))) return fail(reply, 400, 'Bad Request: secret token contains unallowed characters');
        const allowed = typeof params.allowed_updates === 'string' ? (JSON.parse(params.allowed_updates) as string[]) : (params.allowed_updates as string[] | undefined);
        webhook = { url, maxConnections: Number(params.max_connections ?? 40), ...(typeof secret === 'string' ? { secretToken: secret } : {}), ...(allowed ? { allowedUpdates: allowed } : {}) };
        if (params.drop_pending_updates === true || params.drop_pending_updates === 'true') updates = [];
        return ok(reply, true, 'Webhook was set');
      }
      case 'deleteWebhook':
        webhook = undefined;
        if (params.drop_pending_updates === true || params.drop_pending_updates === 'true') updates = [];
        return ok(reply, true, 'Webhook was deleted');
      case 'getWebhookInfo':
        return ok(reply, {
          url: webhook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: updates.length,
          ...(webhook ? { max_connections: webhook.maxConnections } : {}),
          ...(webhook?.allowedUpdates ? { allowed_updates: webhook.allowedUpdates } : {}),
        });
      case 'getUpdates':
        return getUpdates(params, reply);
      case 'getFile': {
        const id = typeof params.file_id === 'string' ? params.file_id : '';
        const file = files.get(id);
        if (!file) return fail(reply, 400, 'Bad Request: invalid file_id');
        return ok(reply, { file_id: id, file_unique_id: `u_${id.slice(-8)}`, file_size: file.bytes.length, file_path: file.path });
      }
      default:
        return fail(reply, 404, 'Not Found');
    }
  }

  async function getUpdates(params: Record<string, unknown>, reply: FastifyReply): Promise<FastifyReply> {
    if (webhook) return fail(reply, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first");
    const offset = params.offset === undefined ? undefined : Number(params.offset);
    const limit = Math.min(Math.max(Number(params.limit ?? 100), 1), 100);
    const timeoutSec = Math.min(Math.max(Number(params.timeout ?? 0), 0), maxPollSec);
    // An offset confirms every update below it: they are never returned again.
    if (offset !== undefined && offset > 0) updates = updates.filter((u) => Number(u.update_id) >= offset);
    const available = (): Record<string, unknown>[] => updates.slice(0, limit);
    if (available().length === 0 && timeoutSec > 0) {
      pendingPoll?.();
      let superseded = false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w.timer !== timer);
          resolve();
        }, timeoutSec * 1000);
        waiters.push({ resolve, timer });
        pendingPoll = () => {
          superseded = true;
          clearTimeout(timer);
          waiters = waiters.filter((w) => w.timer !== timer);
          resolve();
        };
      });
      pendingPoll = undefined;
      if (superseded) return fail(reply, 409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running');
    }
    return ok(reply, available());
  }

  return {
    app,
    get calls() {
      return calls;
    },
    callsTo: (method) => calls.filter((c) => c.method === method),
    pushUpdate(update) {
      const id = ++lastUpdateId;
      updates.push({ ...update, update_id: id });
      wakeAll();
      return id;
    },
    addFile: (fileId, file) => void files.set(fileId, file),
    blockChat: (chatId) => void blocked.add(chatId),
    rateLimit(times, retryAfterSec, method) {
      faults.push({ times, retryAfterSec, ...(method ? { method } : {}) });
    },
    get webhook() {
      return webhook;
    },
    reset() {
      calls = [];
      updates = [];
      faults = [];
      webhook = undefined;
      files.clear();
      blocked.clear();
      wakeAll();
    },
  };
}

export interface RunningTelegramEmulator extends TelegramEmulator {
  /** `http://127.0.0.1:<port>`: pass it as telegraf's `apiRoot`. */
  url: string;
  close(): Promise<void>;
}

/** The emulator listening on loopback (telegraf needs a real socket). */
export async function startTelegramEmulator(options: TelegramEmulatorOptions & { port?: number } = {}): Promise<RunningTelegramEmulator> {
  const { port = 0, ...rest } = options;
  const emu = buildTelegramEmulator(rest);
  await emu.app.listen({ port, host: '127.0.0.1' });
  const addr = emu.app.server.address();
  const actual = typeof addr === 'object' && addr !== null ? addr.port : port;
  return Object.assign(emu, { url: `http://127.0.0.1:${actual}`, close: () => emu.app.close() });
}
