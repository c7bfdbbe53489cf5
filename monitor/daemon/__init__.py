"""The daemon (`leakmon run`), the cron pass (`leakmon once`), `status` and `doctor`.

scheduler.Daemon drives one APScheduler job per source; runner.SourceRunner does one source
run (collect -> pipeline -> cursor -> health); runtime.load_runtime validates config, rules,
sinks and sources as one unit (start-up and SIGHUP); lock.StateLock keeps processes apart;
systemd.SystemdNotifier speaks sd_notify; metrics serves Prometheus text on loopback.
"""
