"""Backup and restore (FORMATS.md "Operations commands"), on SQLite and PostgreSQL."""
import json
import os
import threading
from pathlib import Path

import models
from kenshin import audit
from kenshin.operations import backup as backups

from .operations_helpers import empty_database, runner_for
from .factories import make_resident


class Writers:
    """Threads that keep creating residents, each with its audit event, and note what committed."""

    def __init__(self, threads=3):
        self.committed = []  # (atena_no, event seq), appended after each commit
        self.lock = threading.Lock()
        self.progress = threading.Condition(self.lock)
        self.stop = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self._write, args=(n,)) for n in range(threads)]

    def _write(self, n):
        actor = audit.Actor.system("writer")
        i = 0
        try:
            while not self.stop.is_set():
                i += 1
                atena = f"9{n:02d}{i:07d}"
                with models.db.atomic():
                    person = make_resident(atena)
                    event = audit.record("resident.create", actor, resident=person,
                                         object_type="resident", object_id=person.id)
                with self.progress:
                    self.committed.append((atena, event.seq))
                    self.progress.notify_all()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
            with self.progress:
                self.progress.notify_all()
        finally:
            models.db.close()

    def wait_for(self, count):
        with self.progress:
            self.progress.wait_for(lambda: len(self.committed) >= count or self.errors, timeout=120)
        assert not self.errors, self.errors
        assert len(self.committed) >= count

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join()


def test_backup_taken_during_writes_restores_every_committed_record(app, db, runner, tmp_path):
    out = tmp_path / "backups"
    with Writers() as writers:
        writers.wait_for(20)
        result = runner.invoke(args=["backup", "--output", str(out)])
        assert result.exit_code == 0, result.output
        at_backup = len(writers.committed)
        writers.wait_for(at_backup + 20)  # writes went on after the snapshot
    assert not writers.errors
    path = result.output.strip().splitlines()[-1]
    assert os.path.dirname(path) == str(out) and os.path.isfile(path)
    meta = json.loads(Path(path + ".json").read_text(encoding="utf-8"))
    assert meta["sha256"] == backups.sha256_of(path)
    assert "T" in meta["time"] and meta["time"].endswith("Z")
    head_seq, head = meta["audit_seq"], meta["audit_head"]
    assert len(head) == 64
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    before = {a for a, seq in writers.committed if seq <= head_seq}
    after = {a for a, seq in writers.committed if seq > head_seq}
    assert before and after, "the backup must fall between writes"

    with empty_database(app, tmp_path) as url:
        _other, other_runner = runner_for(url)
        restored = other_runner.invoke(args=["restore", path])
        assert restored.exit_code == 0, restored.output
        with _other.app_context():
            atena = {r.atena_no for r in models.Resident.select(models.Resident.atena_no)}
            assert atena == before  # every record committed before the snapshot, none after
            verified = other_runner.invoke(args=["audit-verify", "--head", head])
            assert verified.exit_code == 0, verified.output
            # The restored chain ends exactly at the saved head; the restore is a job run.
            assert verified.output.strip() == f"ok events={head_seq} head={head}"
            assert models.JobRun.get(models.JobRun.job == "restore").summary["audit_seq"] == head_seq
            models.db.close()


def test_restore_refuses_a_database_that_holds_data(app, db, runner, tmp_path):
    make_resident("000000000001")
    result = runner.invoke(args=["backup", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = result.output.strip().splitlines()[-1]
    count = models.Resident.select().count()
    refused = runner.invoke(args=["restore", path])
    assert refused.exit_code == 1
    assert "not empty" in refused.output
    assert models.Resident.select().count() == count


def test_restore_refuses_a_damaged_file_and_changes_nothing(app, db, runner, tmp_path):
    make_resident("000000000001")
    result = runner.invoke(args=["backup", "--output", str(tmp_path / "b")])
    path = result.output.strip().splitlines()[-1]
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    with empty_database(app, tmp_path) as url:
        other, other_runner = runner_for(url)
        refused = other_runner.invoke(args=["restore", path])
        assert refused.exit_code == 1
        assert "SHA-256" in refused.output
        with other.app_context():
            assert not models.db.table_exists("resident")
            models.db.close()


def test_restore_refuses_a_backup_without_its_json(app, db, runner, tmp_path):
    result = runner.invoke(args=["backup", "--output", str(tmp_path / "b")])
    path = result.output.strip().splitlines()[-1]
    os.remove(path + ".json")
    with empty_database(app, tmp_path) as url:
        _other, other_runner = runner_for(url)
        refused = other_runner.invoke(args=["restore", path])
        assert refused.exit_code == 1 and ".json is missing" in refused.output


def test_restore_fails_when_the_chain_does_not_end_at_the_saved_head(app, db, runner, tmp_path):
    make_resident("000000000001")
    result = runner.invoke(args=["backup", "--output", str(tmp_path / "b")])
    path = result.output.strip().splitlines()[-1]
    meta = json.loads(Path(path + ".json").read_text(encoding="utf-8"))
    meta["audit_head"] = "f" * 64  # a head this backup never had
    Path(path + ".json").write_text(json.dumps(meta), encoding="utf-8")
    with empty_database(app, tmp_path) as url:
        _other, other_runner = runner_for(url)
        refused = other_runner.invoke(args=["restore", path])
        assert refused.exit_code == 1
        assert "audit chain" in refused.output


def test_rotation_keeps_the_newest_backups(app, db, runner, tmp_path):
    out = tmp_path / "rot"
    paths = []
    for _ in range(3):
        result = runner.invoke(args=["backup", "--output", str(out), "--keep", "2"])
        assert result.exit_code == 0, result.output
        paths.append(result.output.strip().splitlines()[-1])
    (out / "notes.txt").write_text("not a backup")
    names = sorted(os.listdir(out))
    assert names == sorted([os.path.basename(p) for p in paths[1:]]
                           + [os.path.basename(p) + ".json" for p in paths[1:]] + ["notes.txt"])
    runs = models.JobRun.select().where(models.JobRun.job == "backup").count()
    assert runs == 3


def test_restore_into_a_database_with_only_an_empty_schema(app, db, runner, tmp_path):
    make_resident("000000000001")
    result = runner.invoke(args=["backup", "--output", str(tmp_path / "b")])
    path = result.output.strip().splitlines()[-1]
    with empty_database(app, tmp_path) as url:
        other, other_runner = runner_for(url)
        assert other_runner.invoke(args=["init-db"]).exit_code == 0
        restored = other_runner.invoke(args=["restore", path])
        assert restored.exit_code == 0, restored.output
        with other.app_context():
            assert [r.atena_no for r in models.Resident.select()] == ["000000000001"]
            models.db.close()
