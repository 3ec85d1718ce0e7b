#!/usr/bin/env node
// Leadgate AMI listener for Asterisk / FreePBX: follows calls on the Manager Interface and posts Leadgate's
// generic signed call events (connectors/channels/pbx). Node >= 18, no dependencies. See README.md.
//
//   LEADGATE_URL=https://hub.example.ru/hooks/pbx/asterisk-main LEADGATE_SECRET=… \
//   AMI_USER=leadgate AMI_SECRET=… node leadgate-ami.mjs
import net from 'node:net';
import { createHmac } from 'node:crypto';
import { relative } from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`leadgate-ami: set ${name}`);
    process.exit(2);
  }
  return v;
};
const cfg = {
  url: env('LEADGATE_URL'),
  secret: env('LEADGATE_SECRET'),
  amiHost: env('AMI_HOST', '127.0.0.1'),
  amiPort: Number(env('AMI_PORT', '5038')),
  amiUser: env('AMI_USER'),
  amiSecret: env('AMI_SECRET'),
  // Contexts where calls from the outside world enter (FreePBX: from-trunk / from-pstn).
  inbound: env('INBOUND_CONTEXTS', 'from-trunk,from-pstn,from-did-direct,from-external').split(','),
  // Public base URL of the recordings folder, if the admin publishes it; empty = no recording events.
  recordingBase: process.env.RECORDING_URL_BASE ?? '',
  monitorDir: env('MONITOR_DIR', '/var/spool/asterisk/monitor'),
  prefix: env('EVENT_ID_PREFIX', 'ami'),
};

// ------------------------------------------------------------------ posting (signed, retried)
const RETRY_MS = [60_000, 300_000, 1_800_000];

/** X-Leadgate-Signature: sha256=hex(HMAC-SHA256(secret, "<timestamp>.<body>")), re-signed on every attempt. */
export function signedHeaders(secret, body, nowSec = Math.floor(Date.now() / 1000)) {
  const ts = String(nowSec);
  const sig = createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  return { 'content-type': 'application/json', 'x-leadgate-timestamp': ts, 'x-leadgate-signature': `sha256=${sig}` };
}

async function post(event, attempt = 0) {
  const body = JSON.stringify(event);
  try {
    const res = await fetch(cfg.url, { method: 'POST', headers: signedHeaders(cfg.secret, body), body, signal: AbortSignal.timeout(5_000) });
    if (res.ok) return;
    // 4xx other than 429: the hub refuses this event (bad secret, bad field); retrying will not help.
    if (res.status < 500 && res.status !== 429) {
      console.error(`leadgate-ami: ${event.event_id} refused: ${res.status} ${await res.text()}`);
      return;
    }
    throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    const wait = RETRY_MS[attempt];
    if (wait === undefined) return console.error(`leadgate-ami: ${event.event_id} dropped after retries: ${err.message}`);
    console.warn(`leadgate-ami: ${event.event_id} failed (${err.message}), retry in ${wait / 1000}s`);
    setTimeout(() => void post(event, attempt + 1), wait).unref();
  }
}

// ------------------------------------------------------------------ call state by Linkedid
const calls = new Map(); // linkedid → call
const linkOf = new Map(); // uniqueid → linkedid

const iso = (sec) => new Date(sec * 1000).toISOString();
const nowSec = (ev) => (ev.Timestamp ? Number(ev.Timestamp) : Date.now() / 1000);
/** `PJSIP/201-0000002a` → `201`. */
const extOf = (channel = '') => /^(?:PJSIP|SIP|IAX2|Local)\/([^-@/;]+)/.exec(channel)?.[1];
const isExternal = (n = '') => n.replace(/\D/g, '').length > 5;

function base(call) {
  return { call_id: call.linkedid, direction: call.direction, from: call.from, to: call.to, did: call.did };
}

function onNewchannel(ev) {
  linkOf.set(ev.Uniqueid, ev.Linkedid);
  let call = calls.get(ev.Linkedid);
  if (call) return void call.channels.add(ev.Uniqueid);
  const inbound = cfg.inbound.includes(ev.Context);
  call = {
    linkedid: ev.Linkedid,
    channels: new Set([ev.Uniqueid]),
    startedAt: nowSec(ev),
    direction: inbound ? 'inbound' : isExternal(ev.Exten) ? 'outbound' : 'internal',
    from: ev.CallerIDNum,
    to: ev.Exten,
    did: inbound ? ev.Exten : undefined,
    extension: inbound ? undefined : ev.CallerIDNum,
    answeredAt: undefined,
    dialStatus: undefined,
    recording: undefined,
  };
  calls.set(ev.Linkedid, call);
  if (call.direction === 'internal') return; // nothing for a CRM; the hub would ignore it anyway
  void post({ event_id: `${cfg.prefix}-${call.linkedid}-start`, event: 'call.started', leg_id: ev.Uniqueid, ...base(call), extension: call.extension, started_at: iso(call.startedAt) });
}

function onDialBegin(ev) {
  const call = calls.get(linkOf.get(ev.Uniqueid) ?? ev.Linkedid);
  if (!call || call.direction !== 'inbound') return;
  const ext = extOf(ev.DestChannel);
  if (!ext) return;
  void post({ event_id: `${cfg.prefix}-${call.linkedid}-ring-${ev.DestUniqueid}`, event: 'call.ringing', leg_id: ev.DestUniqueid, ...base(call), extension: ext, started_at: iso(call.startedAt) });
}

function onDialEnd(ev) {
  const call = calls.get(linkOf.get(ev.Uniqueid) ?? ev.Linkedid);
  if (!call) return;
  call.dialStatus = ev.DialStatus;
  if (ev.DialStatus !== 'ANSWER' || call.answeredAt !== undefined || call.direction === 'internal') return;
  call.answeredAt = nowSec(ev);
  if (call.direction === 'inbound') call.extension = extOf(ev.DestChannel) ?? call.extension;
  void post({ event_id: `${cfg.prefix}-${call.linkedid}-answer`, event: 'call.answered', leg_id: ev.DestUniqueid, ...base(call), extension: call.extension, started_at: iso(call.startedAt), answered_at: iso(call.answeredAt) });
}

function onVarSet(ev) {
  if (ev.Variable !== 'MIXMONITOR_FILENAME' || !ev.Value) return;
  const call = calls.get(linkOf.get(ev.Uniqueid) ?? ev.Linkedid);
  if (call) call.recording = ev.Value;
}

const STATUS = { ANSWER: 'answered', BUSY: 'busy', NOANSWER: 'missed', CANCEL: 'missed', CONGESTION: 'failed', CHANUNAVAIL: 'failed' };

function onHangup(ev) {
  const linkedid = linkOf.get(ev.Uniqueid) ?? ev.Linkedid;
  linkOf.delete(ev.Uniqueid);
  const call = calls.get(linkedid);
  if (!call) return;
  call.channels.delete(ev.Uniqueid);
  if (call.channels.size > 0) return; // other channels of the call are still up
  calls.delete(linkedid);
  if (call.direction === 'internal') return;
  const end = nowSec(ev);
  const status = call.answeredAt !== undefined ? 'answered' : (STATUS[call.dialStatus] ?? 'missed');
  void post({
    event_id: `${cfg.prefix}-${linkedid}-end`,
    event: 'call.ended',
    ...base(call),
    extension: call.extension,
    started_at: iso(call.startedAt),
    answered_at: call.answeredAt !== undefined ? iso(call.answeredAt) : undefined,
    ended_at: iso(end),
    duration_sec: Math.max(0, Math.round(end - call.startedAt)),
    talk_sec: call.answeredAt !== undefined ? Math.max(0, Math.round(end - call.answeredAt)) : 0,
    status,
    hangup_cause: ev.Cause,
  });
  if (call.recording && cfg.recordingBase && status === 'answered') {
    const path = relative(cfg.monitorDir, call.recording).split('/').map(encodeURIComponent).join('/');
    // MixMonitor finishes writing when the channel is gone; the hub fetches later anyway.
    void post({ event_id: `${cfg.prefix}-${linkedid}-rec`, event: 'call.recording_ready', ...base(call), recording_url: `${cfg.recordingBase.replace(/\/$/, '')}/${path}` });
  }
}

const HANDLERS = { Newchannel: onNewchannel, DialBegin: onDialBegin, DialEnd: onDialEnd, VarSet: onVarSet, Hangup: onHangup };

// ------------------------------------------------------------------ AMI connection
/** Splits the AMI stream into messages (`Key: Value` lines, blank line between messages). */
export function amiParser(onMessage) {
  let buf = '';
  return (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 4);
      const msg = {};
      for (const line of block.split('\r\n')) {
        const c = line.indexOf(':');
        if (c > 0) msg[line.slice(0, c).trim()] = line.slice(c + 1).trim();
      }
      if (Object.keys(msg).length) onMessage(msg);
    }
  };
}

function connect(delayMs = 1_000) {
  const sock = net.connect(cfg.amiPort, cfg.amiHost);
  sock.setEncoding('utf8');
  sock.on('connect', () => {
    sock.write(`Action: Login\r\nUsername: ${cfg.amiUser}\r\nSecret: ${cfg.amiSecret}\r\nEvents: call,dialplan\r\n\r\n`);
  });
  sock.on(
    'data',
    amiParser((msg) => {
      if (msg.Response === 'Error') console.error(`leadgate-ami: AMI says ${msg.Message}`);
      if (msg.Response === 'Success' && /Authentication accepted/i.test(msg.Message ?? '')) {
        console.log('leadgate-ami: logged in');
        delayMs = 1_000;
      }
      const handler = msg.Event && HANDLERS[msg.Event];
      if (handler) {
        try {
          handler(msg);
        } catch (err) {
          console.error(`leadgate-ami: ${msg.Event}: ${err.message}`);
        }
      }
    }),
  );
  sock.on('error', (err) => console.error(`leadgate-ami: AMI ${err.message}`));
  sock.on('close', () => {
    // Calls in progress are lost from memory; their final event comes from the next calls' bookkeeping only.
    calls.clear();
    linkOf.clear();
    setTimeout(() => connect(Math.min(delayMs * 2, 30_000)), delayMs).unref?.();
  });
  return sock;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  connect();
  setInterval(() => {}, 1 << 30); // keep the process alive between reconnects
}
