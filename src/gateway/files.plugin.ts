import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RuntimeConfig } from '../config/load.ts';
import { fileLinkValid } from '../infra/file-links.ts';

/** Types a browser may render inline from our origin; anything else is a download (no HTML/SVG from a customer). */
const INLINE_TYPES = /^(image\/(jpeg|png|gif|webp)|application\/pdf|audio\/(ogg|mpeg|mp4)|video\/mp4|text\/plain)$/i;

/**
 * `GET /files/<channel>/<sourceId>/<ref>?sig=…`: a file a channel only references (Telegram `file_id`), linked
 * from CRM notes (src/infra/file-links.ts). The signature is checked before the vendor is asked; the vendor's own
 * URL (with the bot token in it) is fetched here and never shown. URLs are not logged.
 */
export async function filesPlugin(app: FastifyInstance, o: { config: RuntimeConfig; env?: Readonly<Record<string, string | undefined>> }): Promise<void> {
  const env = o.env ?? process.env;
  app.get('/files/:channel/:sourceId/:ref', async (req: FastifyRequest, reply: FastifyReply) => {
    const { channel, sourceId, ref } = req.params as { channel: string; sourceId: string; ref: string };
    const sig = (req.query as Record<string, unknown> | undefined)?.sig;
    const src = o.config.sources.get(sourceId);
    const files = src?.connector.id === channel ? src.connector.files : undefined;
    if (!src || !files || !src.secret) return reply.code(404).send({ error: { code: 'LG_ERR_UNKNOWN_SOURCE', message: 'no such file link' } });
    if (!fileLinkValid({ channel, sourceId, ref, secret: src.secret, sig: typeof sig === 'string' ? sig : undefined })) {
      return reply.code(403).send({ error: { code: 'LG_ERR_SIGNATURE', message: 'file link signature does not match (was the source secret rotated?)' } });
    }
    let file;
    try {
      file = await files.open(ref, { source: src.ref, settings: src.settings, env });
    } catch (err) {
      req.log.warn({ source: sourceId, err: (err as Error).name }, 'file link: vendor did not give the file');
      return reply.code(502).header('retry-after', '30').send({ error: { code: 'LG_ERR_CRM_RETRY', message: 'the file could not be fetched right now; try again shortly' } });
    }
    if (!file) return reply.code(404).send({ error: { code: 'LG_ERR_FIELD', field: 'ref', message: 'the vendor does not know this file' } });
    const type = file.contentType ?? 'application/octet-stream';
    const name = (file.name ?? 'file').replace(/[\r\n"]/g, '_');
    reply.header('content-type', type);
    reply.header('content-disposition', `${INLINE_TYPES.test(type) ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(name)}`);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('content-security-policy', "sandbox; default-src 'none'");
    reply.header('cache-control', 'private, max-age=3600');
    if (file.sizeBytes !== undefined && Buffer.isBuffer(file.body)) reply.header('content-length', String(file.body.length));
    return reply.send(file.body);
  });
}
