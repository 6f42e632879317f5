#!/bin/sh
# The compose `backup` service: pgBackRest's schedule for aiwfe.
#   - creates the stanza (idempotent) and proves WAL archiving reaches the repository (`check`);
#   - takes a full backup at start when the repository has none, then one every day at
#     BACKUP_FULL_HOUR_UTC (default 02:00 UTC); pgBackRest expires what the 30-day retention no longer needs;
#   - continuous WAL archiving itself is PostgreSQL's archive_command (compose/postgres/postgresql.conf).
# `schedule.sh health` is the container healthcheck: healthy while the newest backup is under 26 hours old.
#   Each run (and each backup) also writes the newest backup's time as aiwfe_backup_last_success_timestamp_seconds
#   into BACKUP_METRICS_DIR, which node-exporter's textfile collector serves to Prometheus (BackupTooOld).
# Logs are one JSON object per line on stdout, like every other aiwfe process.
set -eu

STANZA="${PGBACKREST_STANZA:-aiwfe}"
# Not AIWFE_*: those names are the application's settings (tests/deploy/test_compose.py).
HOUR="${BACKUP_FULL_HOUR_UTC:-2}"
MAX_AGE_SECONDS="${BACKUP_MAX_AGE_SECONDS:-93600}"
METRICS_DIR="${BACKUP_METRICS_DIR:-}"

# log LEVEL EVENT [EXTRA]: EXTRA is a JSON fragment of further fields, e.g. '"wait_seconds":60'.
log() {
    printf '{"timestamp":"%s","level":"%s","logger":"aiwfe.backup","event":"%s","stanza":"%s"%s}\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "$STANZA" "${3:+,$3}"
}

newest_backup_stop() {
    # Unix time the newest backup finished, or nothing. Backup timestamps are the only unquoted
    # "stop" numbers in pgBackRest's JSON (LSNs are strings).
    pgbackrest --stanza="$STANZA" --log-level-console=error info --output=json 2>/dev/null \
        | grep -o '"stop":[0-9]*' | cut -d: -f2 | sort -n | tail -n 1
}

# write_metric UNIX_TIME: the textfile-collector file, replaced atomically (the collector reads *.prom only).
write_metric() {
    [ -n "$METRICS_DIR" ] && [ -d "$METRICS_DIR" ] && [ -w "$METRICS_DIR" ] || return 0
    tmp="$METRICS_DIR/.aiwfe_backup.prom.$$"
    {
        echo "# HELP aiwfe_backup_last_success_timestamp_seconds Unix time the newest pgBackRest backup finished."
        echo "# TYPE aiwfe_backup_last_success_timestamp_seconds gauge"
        echo "aiwfe_backup_last_success_timestamp_seconds $1"
    } > "$tmp" && mv "$tmp" "$METRICS_DIR/aiwfe_backup.prom"
}

health() {
    stop="$(newest_backup_stop)"
    # No backup yet: no series, and BackupTooOld's absent() branch fires.
    [ -z "$stop" ] || write_metric "$stop"
    [ -n "$stop" ] || { echo "no backup in the repository yet"; return 1; }
    age=$(( $(date -u +%s) - stop ))
    if [ "$age" -gt "$MAX_AGE_SECONDS" ]; then
        echo "newest backup is ${age}s old (limit ${MAX_AGE_SECONDS}s)"
        return 1
    fi
    echo "newest backup is ${age}s old"
}

seconds_until_next_run() {
    now=$(date -u +%s)
    next=$(date -u -d "$(date -u +%F) ${HOUR}:00:00" +%s)
    [ "$next" -gt "$now" ] || next=$((next + 86400))
    echo $((next - now))
}

full_backup() {
    log info backup_full_started
    if pgbackrest --stanza="$STANZA" --type=full backup; then
        log info backup_full_finished
        write_metric "$(newest_backup_stop)"
    else
        # The healthcheck turns unhealthy when no backup succeeds for 26 h; the next run retries.
        log error backup_full_failed
    fi
}

if [ "${1:-run}" = "health" ]; then
    health
    exit $?
fi

until pg_isready --quiet --host=/var/run/postgresql; do
    log info waiting_for_postgres
    sleep 2
done

pgbackrest --stanza="$STANZA" stanza-create
# Forces a WAL switch and waits for the segment to arrive in the repository: archive_command works.
# PostgreSQL may be backing off after archive-push failed before the stanza existed, hence the timeout.
pgbackrest --stanza="$STANZA" --archive-timeout=180 check
log info archiving_verified

if [ -z "$(newest_backup_stop)" ]; then
    full_backup
fi

while :; do
    wait_seconds="$(seconds_until_next_run)"
    log info next_full_backup_scheduled "\"wait_seconds\":${wait_seconds}"
    sleep "$wait_seconds"
    full_backup
done
