/**
 * Sipuni PBX events ("События на АТС" → HTTP).
 * Vendor doc: https://help.sipuni.com/articles/134-182-110--otpravka-sobytij-ats-na-skript-http-api/ and
 * https://doc.sipuni.com/articles/626-636-640--otpravka-sobytij-http ; facts and doubts: telephony.md §4.
 *
 * GET or POST with urlencoded parameters. No signature: the source secret goes in the URL (`?secret=`),
 * checked by the gateway. Field meanings marked (3p) in the sheet are parsed leniently.
 */
import { z } from 'zod';
import { decodeAnyForm, type RawEvent } from '#sdk';

const Str = z.union([z.string(), z.number()]).transform(String);
const UnixSec = z.union([z.number().int(), z.string().regex(/^\d+$/, 'Unix seconds')]).transform(Number);

/** Sipuni sends empty parameters (`call_answer_timestamp=`) for "none": treat them as absent. */
function dropEmpty(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== '' && x !== null));
}

export const SipuniEventSchema = z.preprocess(
  dropEmpty,
  z.object({
    /** 1 leg offered, 3 answered, 2 call ended (carries the result), 4 secondary leg ended (3p). */
    event: Str,
    call_id: Str.pipe(z.string().min(1)),
    timestamp: UnixSec.optional(),
    src_num: Str.optional(),
    /** 1 external number, 2 internal extension (3p). */
    src_type: Str.optional(),
    dst_num: Str.optional(),
    dst_type: Str.optional(),
    short_src_num: Str.optional(),
    short_dst_num: Str.optional(),
    pbxdstnum: Str.optional(),
    treeName: Str.optional(),
    treeNumber: Str.optional(),
    channel: Str.optional(),
    user_id: Str.optional(),
    status: Str.optional(),
    call_start_timestamp: UnixSec.optional(),
    call_answer_timestamp: UnixSec.optional(),
    last_called: Str.optional(),
    call_record_link: Str.optional(),
    transfer_from: Str.optional(),
  }),
);
export type SipuniEvent = z.infer<typeof SipuniEventSchema>;

/** GET puts everything in the query (the `secret` parameter is dropped by the schema), POST in the body. */
export function decodeSipuni(e: RawEvent): Promise<Record<string, unknown>> {
  return decodeAnyForm(e);
}
