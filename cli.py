"""The command line: `flask --app app <command>`, each command wired to one domain function.

    init-db | demo-data | create-user | first-admin | reset-user | audit-verify | audit-heads
    import-residents | import-institutions | import-results | import-fhir | import-permitted
    report screenings
    rules show | invitations extract | invitations remind | invitations export
    backup | restore | purge                      (kenshin.operations, docs/OPERATIONS.md)
"""
import os
import re
import sys

import click

import database
import models
from kenshin import audit
from kenshin.imports import csvimport
from kenshin.provision import permitted
from kenshin.registry import institutions, resident_import
from kenshin.screening import result_import


def register_cli(app):
    """Wire the command-line commands to domain functions."""
    for command in (init_db, demo_data, create_user, first_admin, reset_user, audit_verify,
                    audit_heads, import_residents, import_institutions, import_results,
                    import_fhir, rules_group, invitations_group, import_permitted, backup,
                    restore, purge, report):
        app.cli.add_command(_database_errors_said_plainly(command))


def _database_errors_said_plainly(command):
    """A database that cannot be reached (or a full disk) is said in one line with exit 2, never
    as a traceback (FORMATS.md: a crash is never an answer); other errors stay as they are."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _database_errors_said_plainly(sub)
        return command
    callback = command.callback
    if getattr(callback, "database_errors_said_plainly", False):
        return command  # wrapped by an earlier app (the commands are module-level objects)

    def guarded(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - only the database's own failures are translated
            reason = database.unavailable_reason(exc)
            if reason is None:
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _fail(f"{command.name}: the database cannot be used ({reason}): {first}", 2)

    guarded.database_errors_said_plainly = True
    guarded.__wrapped__ = callback
    command.callback = guarded
    return command


def _ensure_schema():
    """Create the schema on a new database; leave an existing one alone (the app role may not
    CREATE, so upgrading stays with init-db run as the owner)."""
    if database.schema_version() is None:
        database.create_schema()


def _fail(message: str, code: int = 2):
    click.echo(message, err=True)
    sys.exit(code)


@click.command("init-db")
def init_db():
    """Create or upgrade the schema by its numbered steps; on a current schema only reads the
    version (safe to run any time, also while the system is in use)."""
    try:
        outcome = database.create_schema(progress=click.echo)
    except (database.SchemaBusy, database.SchemaTooNew) as exc:
        _fail(f"init-db: {exc}", 1)
    click.echo(f"schema {outcome} (version {database.LATEST_STEP})")


@click.command("demo-data")
@click.option("--residents", type=click.IntRange(1, 5_000_000), default=20000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--years", type=click.IntRange(1, 10), default=3, show_default=True,
              help="how many 年度 of screenings, ending with the current one")
@click.option("--if-empty", is_flag=True, help="do nothing (exit 0) when residents exist")
def demo_data(residents, seed, years, if_empty):
    """Load realistic synthetic residents, institutions and screenings into an empty database."""
    from kenshin import demo

    _ensure_schema()
    if if_empty and models.Resident.select().exists():
        click.echo("demo-data: the database already has residents; nothing loaded")
        return
    try:
        counts = demo.generate(residents=residents, seed=seed, years=years,
                               actor=audit.Actor.system(), progress=click.echo)
    except demo.NotEmpty as exc:
        _fail(str(exc), 1)
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


@click.command("create-user")
@click.argument("login_id")
@click.option("--name", required=True, help="氏名")
@click.option("--division", required=True, help="所属")
@click.option("--role", "roles", multiple=True, required=True,
              help="clerk | supervisor | admin | auditor | maintainer (repeatable)")
def create_user(login_id, name, division, roles):
    """Create a staff member and print their one-time enrollment link."""
    from flask import current_app
    from kenshin.access import staff
    from kenshin.core.errors import Invalid

    _ensure_schema()
    try:
        _, token = staff.create(login_id, name, division, roles, audit.Actor.system(),
                                link_hours=current_app.config["ENROLL_LINK_HOURS"])
    except Invalid as exc:
        _fail("\n".join(f"{k}: {m}" for k, ms in exc.errors.items() for m in ms), 1)
    _print_link(token)


ORIGIN_UNSET = ("注意: KENSHIN_ORIGIN が設定されていないため、既定の {origin} でリンクを作りました。"
                "職員のPCからは開けません。サーバーのアドレス（例 https://kenshin.city.local）を "
                "KENSHIN_ORIGIN と KENSHIN_RP_ID に設定し、サーバーを同じ設定で起動してから、もう一度実行してください。")


def _print_link(token: str, intro: str = "") -> None:
    """An enrollment link with the origin the server answers on (KENSHIN_ORIGIN): WebAuthn works
    only there. Said on the line above it; a warning when the origin is the built-in default.
    The link itself is the last line (scripts take it from there)."""
    import os

    from flask import current_app

    origin = str(current_app.config["ORIGIN"]).rstrip("/")
    if not os.environ.get("KENSHIN_ORIGIN"):
        click.echo(ORIGIN_UNSET.format(origin=origin), err=True)
    click.echo(f"（リンクのアドレスはサーバーの KENSHIN_ORIGIN = {origin} です）")
    if intro:
        click.echo(intro)
    click.echo(f"{origin}/enroll/{token}")


@click.command("first-admin")
@click.option("--login", "login_id", default="admin", show_default=True)
def first_admin(login_id):
    """For a new office: create the first administrator if there is none; print the enrollment link."""
    from flask import current_app
    from kenshin.access import staff

    _ensure_schema()
    link_hours = current_app.config["ENROLL_LINK_HOURS"]
    person, token = staff.first_admin(login_id, audit.Actor.system(), link_hours)
    if token is None:
        click.echo(f"first-admin: an enrolled administrator exists ({person.login_id}); nothing to do")
        return
    _print_link(token, f"初回管理者 {person.login_id} の利用登録リンク（{link_hours}時間有効・1回限り）:")


@click.command("reset-user")
@click.argument("login_id")
def reset_user(login_id):
    """Recovery when no administrator can sign in (the only one lost their key): revoke the
    person's keys, clear the password, end their sessions and print a new enrollment link."""
    from flask import current_app
    from kenshin.access import staff
    from kenshin.core.errors import Refused

    person = models.Staff.get_or_none(models.Staff.login_id == login_id)
    if person is None:
        _fail(f"reset-user: no staff member {login_id}", 1)
    link_hours = current_app.config["ENROLL_LINK_HOURS"]
    try:
        _, token = staff.reset(person.id, audit.Actor.system(), link_hours)
    except Refused as exc:
        _fail(f"reset-user: {exc.reason}", 1)
    _print_link(token, f"{login_id} の利用登録リンク（{link_hours}時間有効・1回限り）:")


@click.command("audit-verify")
@click.option("--head", "expected_head", help="a head hash kept outside the system")
def audit_verify(expected_head):
    """Walk the audit chain: exit 0 with the count and head, 1 naming the first bad event."""

    if expected_head is not None and not re.fullmatch(r"[0-9a-f]{64}", expected_head.strip()):
        _fail("audit-verify: --head must be 64 hexadecimal digits (as audit-verify printed it)")
    from kenshin.operations import jobs

    with jobs.run("audit-verify", audit.Actor.system().label) as run:
        try:
            result = audit.verify(expected_head.strip() if expected_head else None)
        except Exception as exc:  # noqa: BLE001 - the command failed; exit 2, never 0 or 1
            run.outcome = "failed"
            _fail(f"audit-verify could not walk the log: {type(exc).__name__}: {exc}")
        run.summary = {"events": result.count, "with_head": expected_head is not None}
        if not result.ok:
            run.outcome = "failed"
            run.summary["bad_seq"] = result.bad_seq
    if result.ok:
        click.echo(f"ok events={result.count} head={result.head}")
        return
    click.echo(f"NG: {result.problem}")
    sys.exit(1)


@click.command("audit-heads")
@click.option("--from", "start", required=True, help="first day (Japan time), e.g. 2026-11-01")
@click.option("--to", "end", required=True, help="last day (Japan time)")
def audit_heads(start, end):
    """Print the last hash of each day, for the city to keep outside the system."""
    from kenshin.core.dates import DateError, parse_date

    try:
        first, last = parse_date(start), parse_date(end)
    except DateError as exc:
        _fail(f"date: {exc}")
    for day, seq, digest in audit.daily_heads(first, last):
        click.echo(f"{day.isoformat()} seq={seq} head={digest}")


def _import_command(name: str, doc: str, action: str, run):
    """An import command of FORMATS.md: all or nothing, exit 1 with every problem, 2 if unreadable."""
    @click.command(name, help=doc)
    @click.argument("path")
    @click.option("--encoding", type=click.Choice(["utf-8", "utf8", "cp932"], case_sensitive=False),
                  default="utf-8", show_default=True, help="cp932 for Windows Shift_JIS files")
    def command(path, encoding):
        _ensure_schema()
        actor = audit.Actor.system()
        try:
            source = csvimport.Source.from_path(path, encoding)
        except csvimport.CannotOpen as exc:
            csvimport.record_unreadable(action, os.path.basename(path), exc.reason, actor)
            _fail(f"{name}: {exc.reason}", 2)
        _import_outcome(run(source, actor))
    return command


import_residents = _import_command(
    "import-residents", "Import a resident extract (住民記録連携ファイル): all or nothing, FORMATS.md.",
    resident_import.ACTION, resident_import.run)
import_institutions = _import_command(
    "import-institutions",
    "Import cooperating medical institutions (協力医療機関): all or nothing, FORMATS.md.",
    institutions.ACTION, institutions.import_file)
import_results = _import_command(
    "import-results",
    "Import a screening results file (検診結果ファイル): matching, queue, duplicates, FORMATS.md.",
    result_import.ACTION, result_import.run)

import_permitted = _import_command(
    "import-permitted",
    "Import the permitted-query list (照会許可用照合リスト) the network publishes: the whole list, "
    "all or nothing, FORMATS.md.",
    permitted.ACTION, permitted.import_file)


@click.command("import-fhir")
@click.argument("paths", nargs=-1, required=True)
def import_fhir(paths):
    """Import clinic results as IG FHIR bundles (files, folders, .zip): one set, all or nothing."""
    from kenshin.fhir import importer

    _ensure_schema()
    actor = audit.Actor.system()
    try:
        bundles = importer.collect(list(paths))
    except csvimport.CannotOpen as exc:
        csvimport.record_unreadable(importer.ACTION, ", ".join(os.path.basename(p) for p in paths)[:200],
                                    exc.reason, actor)
        _fail(f"import-fhir: {exc.reason}", 2)
    if not bundles:
        _fail("import-fhir: バンドル（.json）がありません", 2)
    _import_outcome(importer.run(bundles, actor))


def _import_outcome(result):
    """Print a file's problems (exit 1) or its one-line summary (exit 0)."""
    if result.problems:
        click.echo("\n".join(result.lines()))
        sys.exit(1)
    click.echo(result.summary())




# --- operations (kenshin.operations, docs/OPERATIONS.md) -----------------------------------------

def _database_url() -> str:
    from flask import current_app

    return current_app.config["DATABASE_URL"]


@click.command("backup")
@click.option("--output", "output_dir", required=True, help="directory for the backup file")
@click.option("--keep", type=click.IntRange(1, 10_000), default=None,
              help="afterwards keep only the newest N backups in the directory (rotation)")
def backup(output_dir, keep):
    """Write one consistent backup file and NAME.json (SHA-256, time, audit head); print its path."""
    from kenshin.operations import backup as backups
    from kenshin.operations import jobs

    actor = audit.Actor.system()
    with jobs.run("backup", actor.label) as run:
        try:
            made = backups.take(output_dir, _database_url(), database.schema_version())
        except Exception as exc:  # noqa: BLE001 - any failure: one clear line, exit 1, no file
            run.outcome = "failed"
            reason = str(exc) if isinstance(exc, (backups.BackupError, OSError)) \
                else f"{type(exc).__name__}: {exc}"
            run.summary = {"reason": reason[:200]}
            _fail(f"backup: {reason}", 1)
        run.summary = {"file": os.path.basename(made.path), "size": made.size,
                       "audit_seq": made.audit_seq}
        with models.db.atomic():
            audit.record("operations.backup", actor, object_type="backup",
                         object_id=os.path.basename(made.path),
                         details={"sha256": made.sha256, "size": made.size,
                                  "audit_seq": made.audit_seq, "audit_head": made.audit_head})
        removed = backups.rotate(output_dir, keep) if keep else []
        if removed:
            run.summary["rotated"] = len(removed)
            click.echo(f"rotated out {len(removed)} older backup(s): {' '.join(removed)}")
    click.echo(f"sha256={made.sha256} size={made.size} audit_seq={made.audit_seq} "
               f"audit_head={made.audit_head}")
    click.echo(made.path)


@click.command("restore")
@click.argument("path")
def restore(path):
    """Restore a backup into the empty configured database; verify its SHA-256 and audit head."""
    from kenshin.operations import backup as backups
    from kenshin.operations import jobs

    actor = audit.Actor.system()
    try:
        done = backups.restore(path, _database_url())
    except backups.BackupError as exc:
        _fail(f"restore: {exc}", 1)
    except Exception as exc:  # noqa: BLE001 - the database refused; say so, no traceback
        _fail(f"restore: {type(exc).__name__}: {exc}", 1)
    # Recorded as a job run, not as an audit event: the restored chain ends exactly at the saved
    # head, so `audit-verify` prints the head written in NAME.json (docs/OPERATIONS.md).
    with jobs.run("restore", actor.label) as run:
        run.summary = {"file": os.path.basename(done.path), "audit_seq": done.events}
    click.echo(f"restored {done.path}: sha256 ok, audit chain ok events={done.events} "
               f"head={done.audit_head}")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="change nothing; print the counts that would go")
def purge(dry_run):
    """Delete people past retention (KENSHIN_RETENTION_YEARS 年度 after 消除, default 5)."""
    from flask import current_app
    from kenshin.operations import jobs, retention

    try:
        years = retention.retention_years(current_app.config.get("RETENTION_YEARS"))
    except retention.RetentionError as exc:
        _fail(f"purge: {exc}", 2)
    actor = audit.Actor.system()
    if dry_run:
        done = retention.purge(actor, years=years, dry_run=True)
        click.echo(f"dry run: past retention = removed before {done.removed_before.isoformat()} "
                   f"({years} 年度 after 消除); nothing deleted")
        click.echo(f"would delete {done.line()}")
        return
    with jobs.run("purge", actor.label) as run:
        try:
            done = retention.purge(actor, years=years)
        except Exception as exc:  # noqa: BLE001 - rolled back as a whole; say why, exit 1
            run.outcome = "failed"
            _fail(f"purge: nothing deleted: {type(exc).__name__}: {exc}", 1)
        run.summary = dict(done.counts, held=done.held)
    click.echo(f"purged: removed before {done.removed_before.isoformat()} ({years} 年度 after 消除)")
    click.echo(f"deleted {done.line()}")
# --- screening rules and invitations (FORMATS.md "Screening rules", "Invitations") -------------

def _date_option(text: str, name: str):
    from kenshin.core.dates import DateError, parse_date

    try:
        return parse_date(text)
    except DateError as exc:
        _fail(f"{name}: {exc}")


@click.group("rules")
def rules_group():
    """The per-年度 screening rules (対象者の条件)."""


@rules_group.command("show")
@click.option("--fiscal-year", type=click.IntRange(2000, 2200), required=True, help="年度, e.g. 2025")
def rules_show(fiscal_year):
    """Print the 年度's rules in force, one line per exam beginning with the exam code."""
    from kenshin.invitations import rules

    _ensure_schema()
    for line in rules.show_lines(fiscal_year):
        click.echo(line)


@click.group("invitations")
def invitations_group():
    """Invitations (個別通知・受診券): extraction runs and the contractor file."""


def _invalid(exc, code: int = 2):
    _fail("\n".join(m for ms in exc.errors.values() for m in ms), code)


@invitations_group.command("extract")
@click.option("--fiscal-year", type=click.IntRange(2000, 2200), required=True, help="年度, e.g. 2025")
@click.option("--as-of", "as_of", required=True, help="the registry as it stood on this date")
def invitations_extract(fiscal_year, as_of):
    """Pick the people to invite (an initial run, or a top-up with 送付停止)."""
    from kenshin.core.errors import Invalid
    from kenshin.invitations import extraction

    _ensure_schema()
    day = _date_option(as_of, "--as-of")
    try:
        result = extraction.extract(fiscal_year, day, audit.Actor.system())
    except Invalid as exc:
        _invalid(exc)
    for exam, count in result.by_exam.items():
        click.echo(f"{exam} {count}")
    click.echo(f"kind={result.kind} excluded={result.excluded} issued={result.issued}")
    click.echo(result.summary())


@invitations_group.command("remind")
@click.option("--fiscal-year", type=click.IntRange(2000, 2200), required=True)
@click.option("--screened-by", "screened_by", required=True,
              help="invited people with no screening of the exam on or before this date")
@click.option("--as-of", "as_of", required=True, help="the registry as it stood on this date")
def invitations_remind(fiscal_year, screened_by, as_of):
    """再勧奨: a new run of the people invited but not screened by a date."""
    from kenshin.core.errors import Invalid
    from kenshin.invitations import extraction

    _ensure_schema()
    try:
        result = extraction.remind(fiscal_year, _date_option(screened_by, "--screened-by"),
                                   _date_option(as_of, "--as-of"), audit.Actor.system())
    except Invalid as exc:
        _invalid(exc)
    click.echo(result.summary())


@invitations_group.command("export")
@click.argument("run", type=int)
@click.option("--output", required=True, help="the CSV file to write")
@click.option("--encoding", type=click.Choice(["utf-8", "utf8", "cp932"], case_sensitive=False),
              default="utf-8", show_default=True)
@click.option("--reason", default=None, help="why the file leaves (audited); default: to the print contractor")
def invitations_export(run, output, encoding, reason):
    """Write a run's letters for the print contractor (委託先), audited with the SHA-256."""
    from kenshin.core.errors import Invalid, NotFound
    from kenshin.invitations import extraction

    _ensure_schema()
    encoding = "utf-8" if encoding.lower() == "utf8" else encoding.lower()
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        _fail(f"invitations export: no such directory: {directory}")
    try:
        # FORMATS.md fixes this command: it writes any run; an unsigned one is warned and audited so
        result = extraction.export(run, output, audit.Actor.system(), encoding,
                                   reason or extraction.DEFAULT_EXPORT_REASON, signed_only=False)
    except NotFound as exc:
        _fail(f"invitations export: {exc}", 2)
    except Invalid as exc:
        _invalid(exc)
    except extraction.ExportProblem as exc:
        _fail(f"invitations export: {exc}", 1)
    except OSError as exc:
        _fail(f"invitations export: {exc.strerror or exc}", 2)
    if result.warning():
        click.echo(result.warning(), err=True)
    click.echo(result.summary())


@click.group("report")
def report():
    """Yearly statistics (FORMATS.md "Screening report")."""


@report.command("screenings")
@click.option("--fiscal-year", "fiscal_year", type=click.IntRange(1900, 2200), required=True,
              help="年度 (the year it begins in April)")
@click.option("--output", "output", required=True, help="the CSV file to write")
def report_screenings(fiscal_year, output):
    """Counts of counted screenings of a 年度 by exam, sex, age band, setting and 初回, as CSV."""
    from kenshin.statistics import report as screening_report

    _ensure_schema()
    try:
        count = screening_report.write(fiscal_year, output, audit.Actor.system())
    except OSError as exc:
        _fail(f"report screenings: cannot write {output}: {exc.strerror}")
    click.echo(f"report screenings fiscal_year={fiscal_year} rows={count}")
