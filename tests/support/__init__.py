"""Helpers every test folder shares (import them as `tests.support.<module>`; fixtures stay in
the conftest files, helpers live here):

- `net`      loopback address, a free port, a throw-away TLS certificate
- `http`     the loopback HTTP server all HTTP stand-ins are built on, and a route-table
             server (`LocalHTTPServer`) with scripted `Reply`s
- `socks`    a SOCKS5 proxy standing in for Tor
- `sinks`    receivers for the sinks: a signing webhook, TheHive, syslog, SMTP;
             `make_notification`
- `misp`     a local MISP
- `world`    the outside world of an end-to-end run: a paste feed and a t.me/s preview
- `formats`  archive and document builders (zip, tar, 7z, RAR, xlsx, pdf, sqlite...)
- `cli`      run `leakmon` in-process and capture its output
- `web`      start the console on a loopback port, log in
- `postgres` a throw-away PostgreSQL cluster, fresh databases on it (`pg_url`, `store` fixtures)
"""
