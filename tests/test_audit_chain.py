"""The access log's chain: written with the change or not at all, and any tampering behind the
application's back — edit, delete, insert, reorder, cut tail — is named by `audit-verify`."""
import hashlib
import re
import threading
import uuid
from pathlib import Path

import peewee
import pytest

import models
from kenshin import audit
from kenshin.audit import chain
from kenshin.access import staff as staff_domain

ACTOR = audit.Actor(staff_id=None, label="os:pytest", role="cli", terminal="localhost")
ROLES_SQL = Path(__file__).resolve().parent.parent / "deploy" / "postgres-roles.sql"


def _events(n, **kw):
    for i in range(n):
        with models.db.atomic():
            audit.record("test.event", ACTOR, object_type="test", object_id=i,
                         details={"n": i, "text": "日本語・髙橋"}, **kw)


def _verify(runner, *args):
    result = runner.invoke(args=["audit-verify", *args])
    return result.exit_code, result.output


def _head_of(output):
    match = re.search(r"head=([0-9a-f]{64})", output)
    assert match, output
    return match.group(1)


def tamper(app, *statements):
    """Run SQL as an attacker with direct database access would: around the append-only guards."""
    if app.db_kind == "sqlite":
        models.db.execute_sql("DROP TRIGGER IF EXISTS audit_event_no_update")
        models.db.execute_sql("DROP TRIGGER IF EXISTS audit_event_no_delete")
        with models.db.atomic():
            for sql in statements:
                models.db.execute_sql(sql)
    else:  # the superuser, with triggers off for this transaction
        with models.db.atomic():
            models.db.execute_sql("SET LOCAL session_replication_role = replica")
            for sql in statements:
                models.db.execute_sql(sql)


def test_intact_log_verifies_with_count_and_head(app, db, runner):
    _events(5)
    code, output = _verify(runner)
    assert code == 0, output
    head = models.AuditEvent.select().order_by(models.AuditEvent.seq.desc()).get().hash
    assert output.strip() == f"ok events=5 head={head}"


def test_empty_log_verifies(app, db, runner):
    code, output = _verify(runner)
    assert code == 0 and output.strip() == f"ok events=0 head={audit.GENESIS}"


def test_rolled_back_record_leaves_no_event_and_no_gap(app, db, runner):
    _events(2)
    with pytest.raises(RuntimeError):
        with models.db.atomic():
            audit.record("test.event", ACTOR, details={"n": "rolled back"})
            raise RuntimeError("the change failed")
    assert models.AuditEvent.select().count() == 2
    _events(1)
    assert [e.seq for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)] == [1, 2, 3]
    assert _verify(runner)[0] == 0


def test_failed_audit_write_fails_the_change(app, db, runner):
    _events(1)
    # Occupy the next sequence number behind the application's back: the event cannot be written.
    models.AuditEvent.insert(seq=2, at=models.AuditEvent.get().at, actor_label="x", action="junk",
                             outcome="ok", details={}, prev_hash="0", hash="0").execute()
    with pytest.raises(peewee.IntegrityError):
        staff_domain.create("newperson", "新規 職員", "健康支援課", ["clerk"], ACTOR)
    assert not models.Staff.select().where(models.Staff.login_id == "newperson").exists()
    assert models.AuditEvent.select().count() == 2


def _also_update(text):
    """A write of the caller's to send along with an event: a staff member's division."""
    p = models.db.param
    return (f"UPDATE {models.Staff._meta.table_name} SET division = {p} WHERE login_id = {p}",
            (text, "alsoperson"))


def test_a_write_sent_along_with_an_event_is_made_with_it(app, db, runner):
    staff_domain.create("alsoperson", "同送 職員", "健康支援課", ["clerk"], ACTOR)
    audit.record("test.event", ACTOR, details={"n": 1}, also=_also_update("検診係"))  # outside a transaction
    with models.db.atomic():
        audit.record("test.event", ACTOR, details={"n": 2}, also=_also_update("検診係2"))
    assert models.Staff.get(models.Staff.login_id == "alsoperson").division == "検診係2"
    assert models.AuditEvent.select().where(models.AuditEvent.action == "test.event").count() == 2
    assert _verify(runner)[0] == 0


def test_a_failed_write_sent_along_takes_the_event_with_it_on_postgres(app, db, runner):
    """On PostgreSQL, outside a transaction, the write travels in the event's commit message:
    if it fails, the event is not written either (and the chain has no gap)."""
    if app.db_kind != "postgres":
        pytest.skip("on SQLite the write runs after the event, as a statement of its own")
    _events(1)
    broken = (f"UPDATE {models.Staff._meta.table_name} SET no_such_column = 1", ())
    with pytest.raises(peewee.ProgrammingError):
        audit.record("test.event", ACTOR, details={"n": "not kept"}, also=broken)
    assert models.AuditEvent.select().count() == 1
    _events(1)
    assert [e.seq for e in models.AuditEvent.select().order_by(models.AuditEvent.seq)] == [1, 2]
    assert _verify(runner)[0] == 0


@pytest.mark.parametrize("details", [
    {"password": "hunter2"},
    {"new_password": "x"},
    {"token": "abc"},
    {"access_token": "abc"},
    {"challenge": "abc"},
    {"items": {"xray_category": "3a"}},
    {"old_values": []},
    {"filter": {"secret": "x"}},
    {"rows": [{"ok": 1}, {"Password": "x"}]},
    {"xray_category": "3a"},
    {"referral": True},
    {"bone_density": 70},
])
def test_details_refuse_health_values_passwords_and_tokens(app, db, details):
    with pytest.raises(ValueError, match="must not carry"):
        with models.db.atomic():
            staff_domain.create("guarded", "守り 太郎", "健康支援課", ["clerk"], ACTOR)
            audit.record("test.event", ACTOR, details=details)
    assert not models.Staff.select().where(models.Staff.login_id == "guarded").exists()
    assert models.AuditEvent.select().count() == 0


def test_details_allow_ordinary_facts(app, db, runner):
    with models.db.atomic():
        audit.record("test.event", ACTOR, details={"exam": "lung", "target": "gastric", "count": 3,
                                                   "filter": {"from": "2026-04-01"}})
    assert models.AuditEvent.get().details["filter"] == {"from": "2026-04-01"}
    assert _verify(runner)[0] == 0


def test_append_only_guard_refuses_update_and_delete(app, db):
    _events(2)
    with pytest.raises(peewee.DatabaseError, match="append-only"):
        with models.db.atomic():
            models.AuditEvent.update(action="edited").where(models.AuditEvent.seq == 1).execute()
    with pytest.raises(peewee.DatabaseError, match="append-only"):
        with models.db.atomic():
            models.AuditEvent.delete().where(models.AuditEvent.seq == 2).execute()
    assert [e.action for e in models.AuditEvent.select()] == ["test.event", "test.event"]


def test_edited_row_is_named(app, db, runner):
    _events(5)
    tamper(app, "UPDATE audit_event SET actor_label = 'someone' WHERE seq = 3")
    code, output = _verify(runner)
    assert code == 1
    assert "seq=3" in output and "edited" in output


def test_edited_details_are_named(app, db, runner):
    _events(5)
    tamper(app, """UPDATE audit_event SET details = '{"n":99,"text":"日本語・髙橋"}' WHERE seq = 4""")
    code, output = _verify(runner)
    assert code == 1 and "seq=4" in output


def test_edited_time_is_named(app, db, runner):
    _events(3)
    event = models.AuditEvent.get(models.AuditEvent.seq == 2)
    earlier = event.at.replace(year=event.at.year - 1)
    tamper(app, f"UPDATE audit_event SET at = '{earlier.isoformat(sep=' ')}' WHERE seq = 2")
    code, output = _verify(runner)
    assert code == 1 and "seq=2" in output


def test_row_deleted_from_the_middle_is_named(app, db, runner):
    _events(5)
    tamper(app, "DELETE FROM audit_event WHERE seq = 3")
    code, output = _verify(runner)
    assert code == 1
    assert "seq=4" in output and "expected seq=3" in output


def test_forged_row_at_the_end_is_named(app, db, runner):
    _events(3)
    head = models.AuditHead.get()
    last = models.AuditEvent.get(models.AuditEvent.seq == 3)
    fake = hashlib.sha256(b"forged").hexdigest()
    tamper(app,
           f"INSERT INTO audit_event (seq, at, actor_label, role, terminal, action, object_type, "
           f"object_id, outcome, details, prev_hash, hash) VALUES (4, '{last.at.isoformat(sep=' ')}', "
           f"'clerk01', 'clerk', '10.0.0.9', 'resident.view', '', '', 'ok', '{{}}', "
           f"'{head.hash}', '{fake}')",
           f"UPDATE audit_head SET seq = 4, hash = '{fake}'")
    code, output = _verify(runner)
    assert code == 1
    assert "seq=4" in output and "forged" in output


def test_forged_row_before_the_first_is_named(app, db, runner):
    _events(2)
    first = models.AuditEvent.get(models.AuditEvent.seq == 1)
    tamper(app,
           f"INSERT INTO audit_event (seq, at, actor_label, role, terminal, action, object_type, "
           f"object_id, outcome, details, prev_hash, hash) VALUES (0, '{first.at.isoformat(sep=' ')}', "
           f"'clerk01', 'clerk', '', 'resident.view', '', '', 'ok', '{{}}', "
           f"'{audit.GENESIS}', '{first.prev_hash}')")
    code, output = _verify(runner)
    assert code == 1 and "seq=0" in output


def test_reordered_rows_are_named(app, db, runner):
    _events(5)
    tamper(app,
           "UPDATE audit_event SET seq = -3 WHERE seq = 3",
           "UPDATE audit_event SET seq = 3 WHERE seq = 4",
           "UPDATE audit_event SET seq = 4 WHERE seq = -3")
    code, output = _verify(runner)
    assert code == 1
    assert "seq=3" in output and "previous hash" in output


def test_cut_tail_passes_plain_verify_but_not_against_the_kept_head(app, db, runner):
    _events(5)
    code, output = _verify(runner)
    kept = _head_of(output)
    fourth = models.AuditEvent.get(models.AuditEvent.seq == 3)
    # A careful attacker deletes the newest events and rewinds the head row as well.
    tamper(app, "DELETE FROM audit_event WHERE seq > 3",
           f"UPDATE audit_head SET seq = 3, hash = '{fourth.hash}'")
    code, output = _verify(runner)
    assert code == 0 and "events=3" in output
    code, output = _verify(runner, "--head", kept)
    assert code == 1
    assert kept in output and "not in the chain" in output


def test_cut_tail_with_the_head_row_left_alone_fails_plain_verify(app, db, runner):
    _events(5)
    tamper(app, "DELETE FROM audit_event WHERE seq > 3")
    code, output = _verify(runner)
    assert code == 1 and "cut tail" in output


def test_kept_head_still_in_the_chain_verifies(app, db, runner):
    _events(3)
    kept = _head_of(_verify(runner)[1])
    _events(4)
    code, output = _verify(runner, "--head", kept)
    assert code == 0 and "events=7" in output


def test_verify_walks_pages(app, db):
    _events(7)
    result = audit.verify(page=2)
    assert result.ok and result.count == 7
    tamper(app, "DELETE FROM audit_event WHERE seq = 5")
    result = audit.verify(page=2)
    assert not result.ok and result.bad_seq == 6


def test_verify_sees_a_duplicated_seq_at_a_page_boundary(app, db):
    _events(4)
    second = models.AuditEvent.get(models.AuditEvent.seq == 2)
    seq_indexes = [i.name for i in models.db.get_indexes("audit_event") if i.columns == ["seq"]]
    for name in seq_indexes:  # the attacker drops the unique index first
        models.db.execute_sql(f'DROP INDEX "{name}"')
    try:
        tamper(app,
               f"INSERT INTO audit_event (seq, at, actor_label, role, terminal, action, object_type, "
               f"object_id, outcome, details, prev_hash, hash) VALUES (2, "
               f"'{second.at.isoformat(sep=' ')}', 'x', '', '', 'resident.view', '', '', 'ok', '{{}}', "
               f"'{second.prev_hash}', '{second.hash}')")
        result = audit.verify(page=2)
        assert not result.ok and result.bad_seq == 2
    finally:  # the PostgreSQL test database is shared by the session: put the index back
        tamper(app, f"DELETE FROM audit_event WHERE seq = 2 AND id <> {second.id}")
        for name in seq_indexes:
            models.db.execute_sql(f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}" ON audit_event (seq)')


def test_fast_and_exact_canonical_forms_agree(app, db):
    with models.db.atomic():
        audit.record("test.event", ACTOR, object_id=None, details={})
        audit.record("test.event", ACTOR, resident=None, object_type="x", object_id=12,
                     details={"z": [1, 2.5, None, True], "a": {"ネスト": "値\n\"引用\""}, "e": "😀"})
    for row in chain._rows():
        assert chain._fast_payload(row) == chain._slow_payload(row)


def _record_many(app, n, errors):
    try:
        with app.app_context():
            models.db.connect(reuse_if_open=True)
            for i in range(n):
                with models.db.atomic():
                    audit.record("test.concurrent", ACTOR, object_id=i,
                                 details={"thread": threading.current_thread().name})
            models.db.close()
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_concurrent_writers_never_fork_the_chain(app, db):
    models.db.close()
    errors = []
    threads = [threading.Thread(target=_record_many, args=(app, 50, errors), name=f"w{i}")
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    models.db.connect(reuse_if_open=True)
    result = audit.verify()
    assert result.ok, result.problem
    assert result.count == 200
    seqs = [e.seq for e in models.AuditEvent.select(models.AuditEvent.seq)
            .order_by(models.AuditEvent.seq)]
    assert seqs == list(range(1, 201))
    per_thread = {}
    for event in models.AuditEvent.select():
        per_thread[event.details["thread"]] = per_thread.get(event.details["thread"], 0) + 1
    assert per_thread == {f"w{i}": 50 for i in range(4)}


def _grant_statements(role):
    text = ROLES_SQL.read_text()
    section = text.split("-- BEGIN GRANTS")[1].split("-- END GRANTS")[0]
    section = section.split("\n", 1)[1]  # the rest of the marker line is a comment
    section = section.replace("kenshin_app", role)
    statements, current = [], []
    for line in section.splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and (not joined.startswith("DO $$") or joined.endswith("END $$;")):
            statements.append(joined)
            current = []
    return statements


def test_app_role_may_only_insert_and_select_the_log(app, db):
    if app.db_kind != "postgres":
        pytest.skip("roles are a PostgreSQL matter; SQLite has the triggers")
    _events(2)
    role = f"kenshin_app_test_{uuid.uuid4().hex[:10]}"
    models.db.execute_sql(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        statements = _grant_statements(role)
        assert any("REVOKE UPDATE, DELETE" in s for s in statements)
        for statement in statements:
            models.db.execute_sql(statement)
        models.db.execute_sql(f'SET ROLE "{role}"')
        assert models.db.execute_sql("SELECT current_user").fetchone()[0] == role
        # INSERT works, through the one function that records.
        with models.db.atomic():
            audit.record("test.as_app_role", ACTOR, details={"n": 3})
        assert models.AuditEvent.select().count() == 3
        # Ordinary tables are writable.
        with models.db.atomic():
            staff_domain.create("approle", "役割 確認", "健康支援課", ["clerk"], ACTOR)
        for sql in ("UPDATE audit_event SET action = 'edited' WHERE seq = 1",
                    "DELETE FROM audit_event WHERE seq = 1",
                    "TRUNCATE audit_event",
                    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only",
                    "SET session_replication_role = replica"):
            with pytest.raises(peewee.DatabaseError, match="permission denied|must be owner"):
                with models.db.atomic():
                    models.db.execute_sql(sql)
        assert audit.verify().ok
    finally:
        if not models.db.in_transaction():
            models.db.execute_sql("RESET ROLE")
        models.db.execute_sql(f'DROP OWNED BY "{role}"')
        models.db.execute_sql(f'DROP ROLE "{role}"')


def test_malformed_kept_head_is_a_usage_error(app, db, runner):
    _events(1)
    result = runner.invoke(args=["audit-verify", "--head", "not-a-hash"])
    assert result.exit_code == 2


def test_verify_that_cannot_run_exits_2_not_1(app, db, runner):
    _events(1)
    models.db.execute_sql("ALTER TABLE audit_event RENAME TO audit_event_gone")
    try:
        result = runner.invoke(args=["audit-verify"])
        assert result.exit_code == 2, result.output
    finally:
        models.db.execute_sql("ALTER TABLE audit_event_gone RENAME TO audit_event")


def test_an_event_is_never_older_than_a_timestamp_taken_before_it(db):
    # Queries such as "the link issued since this account was created" compare an event's time
    # with a Python timestamp: the event's time must be as precise, and sort as a later time.
    from kenshin.core.dates import now_utc

    for _ in range(30):
        before = now_utc()
        event = audit.record("test.event", ACTOR)
        assert (models.AuditEvent.select().where((models.AuditEvent.seq == event.seq)
                                                 & (models.AuditEvent.at >= before)).count() == 1)
    assert audit.verify().ok
