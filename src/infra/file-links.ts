/**
 * Signed hub links to files a channel only references (Telegram `file_id`). A Bot API download URL contains the
 * bot token, so it must never reach a CRM note; instead the note gets
 * `<publicUrl>/files/<channel>/<sourceId>/<ref>?sig=<hmac>` and the gateway fetches the file on each click.
 *
 * The key is derived from the source's own secret (a Telegram source always has one): no extra setting, and
 * rotating that secret revokes every link of the source. Links do not expire — CRM notes live for years and
 * Telegram file ids do not expire either.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const KEY_LABEL = 'leadgate:file-link:v1';

function signature(secret: string, channel: string, sourceId: string, ref: string): string {
  const key = createHmac('sha256', secret).update(KEY_LABEL).digest();
  return createHmac('sha256', key).update(`${channel}\n${sourceId}\n${ref}`).digest('base64url').slice(0, 32);
}

export function fileLink(o: { publicUrl: string; channel: string; sourceId: string; ref: string; secret: string }): string {
  const base = o.publicUrl.replace(/\/+$/, '');
  return `${base}/files/${encodeURIComponent(o.channel)}/${encodeURIComponent(o.sourceId)}/${encodeURIComponent(o.ref)}?sig=${signature(o.secret, o.channel, o.sourceId, o.ref)}`;
}

/** Constant-time check of a link's `sig`. */
export function fileLinkValid(o: { channel: string; sourceId: string; ref: string; secret: string; sig: string | undefined }): boolean {
  if (!o.sig) return false;
  const want = Buffer.from(signature(o.secret, o.channel, o.sourceId, o.ref));
  const got = Buffer.from(o.sig);
  return got.length === want.length && timingSafeEqual(got, want);
}
