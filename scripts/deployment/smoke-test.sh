#!/usr/bin/env bash
# Smoke test of a running aiwfe: liveness, readiness, a sign-up + sign-in round trip with a bearer
# token, and — when the server has the calendar API — an event created and read back.
#
#   smoke-test.sh BASE_URL [--ca CA_FILE]
#
#   BASE_URL               e.g. https://staging.aiwfe.example.com (no trailing /api)
#   --ca CA_FILE           trust this CA for https (e.g. the local stack's Caddy root.crt)
#   SMOKE_EMAIL / SMOKE_PASSWORD
#                          sign in with this existing account instead of registering a new one
#                          (needed where AIWFE_REGISTRATION_MODE is invite or closed)
#   SMOKE_EMAIL_DOMAIN     domain of the registered throwaway accounts (default example.com)
#   SMOKE_TIMEOUT          seconds per request (default 10)
#   SMOKE_RETRIES          curl retries on transient errors: refused, timeouts, 429, 5xx (default 5)
#
# Exits 0 when every step passed; otherwise 1 with "smoke test FAILED: <step>: <why>" on stderr
# (2 for a usage error). Needs curl and python3 (JSON parsing).
set -euo pipefail

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

BASE=""
CA=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ca) [ $# -ge 2 ] || usage; CA="$2"; shift 2 ;;
    --ca=*) CA="${1#--ca=}"; shift ;;
    -h | --help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) [ -z "$BASE" ] || usage; BASE="${1%/}"; shift ;;
  esac
done
[ -n "$BASE" ] || usage
if [ -n "$CA" ] && [ ! -r "$CA" ]; then
  echo "smoke test FAILED: setup: CA file $CA is not readable" >&2
  exit 1
fi

TIMEOUT="${SMOKE_TIMEOUT:-10}"
RETRIES="${SMOKE_RETRIES:-5}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
BODY="$WORK/body"
TOKEN=""
STATUS=""

fail() {
  echo "smoke test FAILED: $1" >&2
  exit 1
}

step() { echo "smoke: $*"; }

# request METHOD PATH [JSON_BODY]: sets STATUS and leaves the answer in $BODY.
request() {
  local method="$1" path="$2" data="${3-}"
  local args=(--silent --show-error --output "$BODY" --write-out '%{http_code}'
    --connect-timeout 5 --max-time "$TIMEOUT"
    --retry "$RETRIES" --retry-delay 2 --retry-max-time 60 --retry-connrefused
    --request "$method" --header 'Accept: application/json')
  [ -z "$CA" ] || args+=(--cacert "$CA")
  [ -z "$TOKEN" ] || args+=(--header "Authorization: Bearer $TOKEN")
  if [ -n "$data" ]; then
    # From a file, not the command line, where other users' `ps` would see the password.
    printf '%s' "$data" >"$WORK/request"
    args+=(--header 'Content-Type: application/json' --data-binary "@$WORK/request")
  fi
  : >"$BODY"
  if ! STATUS="$(curl "${args[@]}" "$BASE$path" 2>"$WORK/curl.err")"; then
    fail "$method $path: no answer from $BASE ($(grep -m 1 '^curl: (' "$WORK/curl.err" || tail -n 1 "$WORK/curl.err"))"
  fi
}

# expect STEP CODE...: fails unless the last request answered one of the codes.
expect() {
  local what="$1" code
  shift
  for code in "$@"; do
    [ "$STATUS" = "$code" ] && return 0
  done
  fail "$what: expected HTTP $* but got $STATUS: $(head -c 400 "$BODY")"
}

# json KEY VALUE...: a JSON object of string fields, quoted properly whatever the values hold.
json() {
  python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"
}

# field KEY: a top-level field of the JSON answer in $BODY (empty when absent).
field() {
  python3 -c 'import json, sys
value = json.load(open(sys.argv[1])).get(sys.argv[2], "")
print(value if value is not None else "")' "$BODY" "$1" 2>/dev/null || true
}

step "GET $BASE/health"
request GET /health
expect "GET /health" 200
[ "$(field status)" = ok ] || fail "GET /health: not aiwfe's liveness answer: $(head -c 200 "$BODY")"

step "GET $BASE/ready"
request GET /ready
expect "GET /ready" 200
READY="$(field status)"
case "$READY" in
  ok) ;;
  degraded) step "ready, but degraded (a worker or beat heartbeat is stale): $(head -c 400 "$BODY")" ;;
  *) fail "GET /ready: not aiwfe's readiness answer: $(head -c 200 "$BODY")" ;;
esac

if [ -n "${SMOKE_EMAIL:-}" ]; then
  EMAIL="$SMOKE_EMAIL"
  PASSWORD="${SMOKE_PASSWORD:?SMOKE_PASSWORD is required with SMOKE_EMAIL}"
else
  SUFFIX="$(date +%s)-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  EMAIL="smoke-$SUFFIX@${SMOKE_EMAIL_DOMAIN:-example.com}"
  PASSWORD="Sm0ke-$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')"
  step "register $EMAIL"
  request POST /api/v1/auth/register "$(json email "$EMAIL" password "$PASSWORD" display_name "smoke test")"
  expect "POST /api/v1/auth/register" 201
fi

step "sign in $EMAIL (token mode)"
request POST /api/v1/auth/login "$(json email "$EMAIL" password "$PASSWORD" mode token)"
expect "POST /api/v1/auth/login" 200
TOKEN="$(field session_token)"
[ -n "$TOKEN" ] || fail "POST /api/v1/auth/login: no session_token in the answer (two-factor on for $EMAIL?)"

step "GET /api/v1/me with the bearer token"
request GET /api/v1/me
expect "GET /api/v1/me" 200
[ "$(field email)" = "$EMAIL" ] || fail "GET /api/v1/me: answered for '$(field email)', not $EMAIL"

# The calendar API is optional: check the live OpenAPI rather than assume this server has it.
request GET /api/openapi.json
if [ "$STATUS" = 200 ] && grep -q '"/api/v1/calendars"' "$BODY"; then
  step "create a calendar and an event, read the event back"
  request POST /api/v1/calendars '{"name": "smoke test"}'
  expect "POST /api/v1/calendars" 201
  CALENDAR="$(field id)"
  [ -n "$CALENDAR" ] || fail "POST /api/v1/calendars: no id in the answer"
  SUMMARY="smoke event $(date -u +%Y%m%dT%H%M%SZ)"
  request POST /api/v1/events "{\"calendar_id\": \"$CALENDAR\", \"summary\": \"$SUMMARY\",
    \"start\": {\"date_time\": \"2030-01-02T09:00:00Z\"}, \"end\": {\"date_time\": \"2030-01-02T09:30:00Z\"}}"
  expect "POST /api/v1/events" 201
  EVENT="$(field id)"
  [ -n "$EVENT" ] || fail "POST /api/v1/events: no id in the answer"
  request GET "/api/v1/events/$EVENT"
  expect "GET /api/v1/events/$EVENT" 200
  [ "$(field summary)" = "$SUMMARY" ] || fail "GET /api/v1/events/$EVENT: summary is '$(field summary)', not '$SUMMARY'"
  request DELETE "/api/v1/calendars/$CALENDAR"
  expect "DELETE /api/v1/calendars/$CALENDAR" 204
else
  step "no /api/v1/calendars in $BASE/api/openapi.json (HTTP $STATUS): calendar check skipped"
fi

request POST /api/v1/auth/logout
expect "POST /api/v1/auth/logout" 204
echo "smoke test passed: $BASE"
