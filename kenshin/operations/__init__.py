"""Operating kenshin for years, without touching personal data unless the task needs it.

- `backup`     — a consistent backup file (SQLite online backup API, PostgreSQL `pg_dump -Fc`) with
                 its SHA-256 and the audit head beside it; `restore` into an empty database and
                 prove it against that head; rotation of old backups.
- `jobs`       — a record of each operator job (backup, purge, verification, import): outcome,
                 duration, counts — what the maintainer's screen lists.
- `health`     — the load balancer's check: database reachable, schema version.
- `retention`  — the retention rule for people removed from the registry and the purge that
                 deletes them (dry run first), leaving the audit events and a purge record.
- `status`     — the maintainer's screen: version, schema, sizes, row counts, backups, jobs, disk.
"""
