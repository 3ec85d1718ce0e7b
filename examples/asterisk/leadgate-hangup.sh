#!/usr/bin/env bash
# Leadgate dialplan hangup hook: posts one signed `call.ended` event (connectors/channels/pbx) for a call.
# Called from a hangup handler (see README.md); needs bash, curl, openssl.
#
#   leadgate-hangup.sh <linkedid> <uniqueid> <direction> <from> <to> <did> <extension> <dialstatus> \
#                      <start_epoch> <answered_sec> <hangup_cause> [recording_url]
#
# Settings come from /etc/leadgate-hangup.env (or the environment):
#   LEADGATE_URL=https://hub.example.ru/hooks/pbx/asterisk-main
#   LEADGATE_SECRET=<the value of the source's secretEnv>
set -euo pipefail
[ -r /etc/leadgate-hangup.env ] && . /etc/leadgate-hangup.env
: "${LEADGATE_URL:?set LEADGATE_URL}" "${LEADGATE_SECRET:?set LEADGATE_SECRET}"

linkedid=$1 uniqueid=$2 direction=$3 from=$4 to=$5 did=$6 extension=$7 dialstatus=$8
start=${9%%.*} answered=${10:-0} cause=${11:-} recording=${12:-}
answered=${answered%%.*}; answered=${answered:-0}
end=$(date +%s)

case "$dialstatus" in
  ANSWER) status=answered ;;
  BUSY) status=busy ;;
  CONGESTION|CHANUNAVAIL) status=failed ;;
  *) status=missed ;;
esac
[ "$answered" -gt 0 ] && status=answered

# JSON string: escape backslash and double quote, drop control characters.
js() { printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

body="{\"event_id\":$(js "hook-$linkedid-end"),\"event\":\"call.ended\",\"call_id\":$(js "$linkedid"),\"leg_id\":$(js "$uniqueid")"
body+=",\"direction\":$(js "$direction"),\"from\":$(js "$from"),\"to\":$(js "$to")"
[ -n "$did" ] && body+=",\"did\":$(js "$did")"
[ -n "$extension" ] && body+=",\"extension\":$(js "$extension")"
body+=",\"started_at\":\"$(iso "$start")\",\"ended_at\":\"$(iso "$end")\""
[ "$answered" -gt 0 ] && body+=",\"answered_at\":\"$(iso $((end - answered)))\""
body+=",\"duration_sec\":$((end - start)),\"talk_sec\":$answered,\"status\":\"$status\""
[ -n "$cause" ] && body+=",\"hangup_cause\":$(js "$cause")"
[ -n "$recording" ] && body+=",\"recording_url\":$(js "$recording")"
body+="}"

# Re-sign on every attempt: the hub refuses timestamps older than 5 minutes.
for delay in 0 60 120; do
  sleep "$delay"
  ts=$(date +%s)
  sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$LEADGATE_SECRET" -hex | sed 's/^.*= //')
  code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$LEADGATE_URL" \
    -H 'Content-Type: application/json' -H "X-Leadgate-Timestamp: $ts" -H "X-Leadgate-Signature: sha256=$sig" \
    --data-binary "$body" || echo 000)
  case "$code" in
    2??) exit 0 ;;
    4??) [ "$code" != 429 ] && { logger -t leadgate "event hook-$linkedid-end refused: HTTP $code"; exit 1; } ;;
  esac
done
logger -t leadgate "event hook-$linkedid-end not delivered (last HTTP $code)"
exit 1
