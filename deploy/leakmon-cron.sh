#!/bin/sh
# One `leakmon once` pass for cron (see leakmon.cron and docs/deploy.md).
# - loads the "env:NAME" secrets from /etc/leakmon/leakmon.env (owned by the leakmon user, 0600)
# - appends everything leakmon prints to /var/log/leakmon/once.log
# - prints (so cron mails it) only when a source or a delivery failed;
#   exit 75 (the previous pass or the daemon still holds the lock) is not an error.
set -u
CONFIG=${LEAKMON_CONFIG:-/etc/leakmon/config.toml}
STATE=${LEAKMON_STATE:-/var/lib/leakmon}
LOG=${LEAKMON_LOG:-/var/log/leakmon/once.log}
LEAKMON=${LEAKMON_BIN:-/opt/leakmon/bin/leakmon}

if [ -r /etc/leakmon/leakmon.env ]; then
    set -a
    . /etc/leakmon/leakmon.env
    set +a
fi
umask 077
"$LEAKMON" --config "$CONFIG" --state-dir "$STATE" once --wait 240 >>"$LOG" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 75 ]; then
    echo "leakmon once failed (exit $rc); last lines of $LOG:"
    tail -n 20 "$LOG"
fi
exit 0
