"""Extraction runs (FORMATS.md "Invitations"): whom to invite for a 年度, in set-based SQL.

A run reads the registry as it stood on its `as_of` date and the 年度's rules in force (saved as a
version, which the run names — LESSONS.md 1). Each person's set of exams (bits of
models.INVITATION_EXAM_BITS) is computed by one SQL statement per run into a temporary table,
a row per person; 整理番号 are issued, invitations written (one row per person × run, the exams
as a set) and counts taken from that table by further set statements, never a Python loop per
person, so a run over a million residents stays a matter of seconds (docs/INVITATIONS.md).

- initial / top-up: residents on `as_of`, eligible for the exam, not yet invited for it in the
  年度; people whose use is suspended (利用停止) and people excluded by staff are left out and
  counted. A top-up also marks as stopped (送付停止) the invitations of people whose 消除日 is on
  or before its `as_of`.
- reminder (再勧奨): invited people not stopped, still resident, not suspended nor excluded, with
  no counted screening of the exam's interval group in the 年度 dated on or before a date.

Values put into SQL text are dates, integers and catalogue codes produced here, never user text.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime

from peewee import fn

import database
from models import (INVITATION_EXAM_BITS, Invitation, InvitationExclusion, InvitationRun, Resident,
                    SeiriCounter, SeiriNumber, db, exam_codes)

from kenshin import audit
from kenshin.core.dates import fiscal_year_bounds, now_utc, today_jst
from kenshin.core.errors import Invalid, NotFound
from kenshin.core.listing import csv_text
from kenshin.invitations import rules as rules_mod
from kenshin.invitations import seiri
from kenshin.screening import catalogue
from kenshin.screening.eligibility import EXAM_ORDER, Rule, RuleTable, rule_from_row
from kenshin.screening.screenings import CONFIRMED

ACTION_EXTRACT = "invitations.extract"
ACTION_REMIND = "invitations.remind"
ACTION_EXPORT = "invitations.export"
ACTION_PRINT = "invitations.print"
ACTION_PREVIEW = "invitations.preview"
ACTION_EXCLUDE = "invitations.exclude"
ACTION_EXCLUDE_END = "invitations.exclude_end"
ACTION_SIGNOFF = "invitations.signoff"

INITIAL, TOPUP, REMINDER = "initial", "topup", "reminder"
KIND_LABELS = {INITIAL: "当初抽出", TOPUP: "追加抽出", REMINDER: "再勧奨"}
INVITE, REMIND = "invite", "remind"

EXCLUSION_REASONS = {"workplace": "職域で受診", "treatment": "治療中", "declined": "本人辞退",
                     "other": "その他"}

EXPORT_COLUMNS = ("seiri_no", "atena_no", "name", "name_kana", "postal_code", "address",
                  "birth_date", "sex", "exams")
ENCODINGS = ("utf-8", "cp932")
DEFAULT_EXPORT_REASON = "受診券・個別通知の印刷・封入封緘の委託先への送付"
_TEMP = "invitation_candidate"
_LAST = "invitation_last_screened"
COVERING_INDEX = "screening_confirmed_by_resident"  # models.py, database.STEPS step 11
# The exam of a screening as an expression, not the bare column: otherwise SQLite (which keeps no
# statistics here) probes the (exam, fiscal_year) index of the reports for every person — every
# screening of the exam, a million times — instead of the person's own (resident, ...) index.
_EXAM = "(s.exam || '')"


def _lit(value) -> str:
    """A SQL literal for a value made here (date, datetime, int or a code from the catalogue)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return "'" + value.strftime("%Y-%m-%d %H:%M:%S.%f") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    text = str(value)
    if text not in catalogue.EXAMS and text not in (INVITE, REMIND, CONFIRMED, ""):
        raise ValueError("only catalogue codes are put into SQL text")
    return "'" + text + "'"


def _in(values) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")"


def check_period(fiscal_year: int, as_of: date) -> None:
    """A run for 年度 Y reads the registry on a date from a year before the 年度 to its end
    (an initial run is usually made in the spring before the 年度 starts); anything else is a
    source from another 年度 (LESSONS.md 1)."""
    first, last = fiscal_year_bounds(fiscal_year)
    if not 2000 <= fiscal_year <= 2200:
        raise Invalid({"fiscal_year": ["年度が正しくありません"]})
    if not date(fiscal_year - 1, 4, 1) <= as_of <= last:
        raise Invalid({"as_of": [f"基準日は{fiscal_year - 1}-04-01から{last.isoformat()}までの日付です"
                                 f"（{fiscal_year}年度の抽出）"]})


# --- the person × exam set ------------------------------------------------------------------

def _resident_on(as_of: date, alias: str = "r") -> str:
    d = _lit(as_of)
    return (f"({alias}.resident_since IS NULL OR {alias}.resident_since <= {d}) "
            f"AND ({alias}.removed_on IS NULL OR {alias}.removed_on > {d})")


def _exclusion(exam_sql: str, fiscal_year: int, alias: str = "r") -> str:
    y = _lit(fiscal_year)
    return (f"EXISTS (SELECT 1 FROM invitation_exclusion x WHERE x.resident_id = {alias}.id "
            f"AND x.ended_at IS NULL AND (x.exam = '' OR x.exam = {exam_sql}) "
            f"AND x.from_year <= {y} AND (x.to_year IS NULL OR x.to_year >= {y}))")


def _groups(table: RuleTable, fiscal_year: int) -> list[tuple[str, ...]]:
    """The interval groups (each a tuple of exam codes) of the exams that have a window."""
    groups: list[tuple[str, ...]] = []
    for exam, rule in table.rules.items():
        if rule.window(fiscal_year) is not None and table.sharing(exam) not in groups:
            groups.append(table.sharing(exam))
    return groups


def last_screened_sql(table: RuleTable, fiscal_year: int, until: date) -> str | None:
    """One pass over the counted screenings, grouped per person: the last 年度 (up to the 年度 of
    the run, dated on or before `until`) in which the person had a screening of each interval
    group, as columns g0, g1 … in the order of `_groups` (NULL: never). None when no exam has a
    window. The covering index screening_confirmed_by_resident serves it in person order, so a
    run reads each person's screenings once instead of probing them once per exam."""
    groups = _groups(table, fiscal_year)
    if not groups:
        return None
    columns = ", ".join(f"MAX(CASE WHEN s.exam IN {_in(members)} THEN s.fiscal_year END) AS g{k}"
                        for k, members in enumerate(groups))
    # Each group's screenings from the first 年度 of its exams' windows on (all of them for a
    # group with a once-in-life window): an older one changes no test, since every exam asks
    # only whether the last lies in its window (`_not_screened`). Years of history (a city keeps
    # five and more) are then left out of the grouping instead of being read into it.
    since: dict[int | None, list[str]] = {}
    for members in groups:
        firsts = [rule.window(fiscal_year)[0] for exam, rule in table.rules.items()
                  if table.sharing(exam) == members and rule.window(fiscal_year) is not None]
        since.setdefault(None if None in firsts else min(firsts), []).extend(members)
    wanted = " OR ".join(f"s.exam IN {_in(sorted(codes))}" if first is None else
                         f"(s.exam IN {_in(sorted(codes))} AND s.fiscal_year >= {_lit(first)})"
                         for first, codes in since.items())
    # SQLite keeps no planner statistics here and would take the (status, entered_at) index: every
    # confirmed screening fetched from the table, then sorted by person
    indexed = "" if database.is_postgres() else f" INDEXED BY {COVERING_INDEX}"
    return (f"SELECT s.resident_id, {columns} FROM screening s{indexed} "
            f"WHERE s.status = {_lit(CONFIRMED)} AND ({wanted}) "
            f"AND s.fiscal_year <= {_lit(fiscal_year)} AND s.exam_date <= {_lit(until)} "
            f"GROUP BY s.resident_id")


def _not_screened(table: RuleTable, exam: str, rule: Rule, fiscal_year: int) -> str | None:
    """SQL on the people-on-the-date table (alias r): no counted screening of the exam's interval
    group in the rule's window; None when the exam has no window."""
    window = rule.window(fiscal_year)
    if window is None:
        return None
    first, last = window
    if last != fiscal_year:  # Rule.window ends every window with the run's 年度
        raise ValueError("a window must end with the 年度 of the run")
    column = f"r.g{_groups(table, fiscal_year).index(table.sharing(exam))}"
    return f"{column} IS NULL" if first is None else f"({column} IS NULL OR {column} < {_lit(first)})"


def _birth_condition(rule: Rule, fiscal_year: int) -> str:
    parts = []
    for first, last in rule.birth_ranges(fiscal_year):
        bounds = []
        if first is not None:
            bounds.append(f"r.birth_date >= {_lit(first)}")
        if last is not None:
            bounds.append(f"r.birth_date <= {_lit(last)}")
        parts.append("(" + " AND ".join(bounds) + ")" if bounds else "1 = 1")
    return "(" + " OR ".join(parts) + ")"


def _any_exclusion(fiscal_year: int) -> bool:
    return InvitationExclusion.select().where(
        InvitationExclusion.ended_at.is_null() & (InvitationExclusion.from_year <= fiscal_year)
        & (InvitationExclusion.to_year.is_null() | (InvitationExclusion.to_year >= fiscal_year))).exists()


def _invited_before(fiscal_year: int) -> bool:
    """Whether the 年度 has invitations already (kind invite: only initial and top-up runs write them)."""
    return InvitationRun.select().where((InvitationRun.fiscal_year == fiscal_year)
                                        & (InvitationRun.kind != REMINDER)).exists()


def bit(exam: str) -> int:
    """The exam's bit in Invitation.exams (models.INVITATION_EXAM_BITS)."""
    if exam not in INVITATION_EXAM_BITS:
        raise ValueError(f"no invitation bit for exam {exam!r}")
    return INVITATION_EXAM_BITS[exam]


def has(column: str, exam: str) -> str:
    """SQL: the exams set in `column` holds the exam."""
    return f"({column} & {bit(exam)}) <> 0"


def _mask(parts: list[tuple[str, str]]) -> str:
    """SQL: the sum of the bits of the exams whose condition holds ((exam, condition) pairs)."""
    if not parts:
        return "0"
    return "(" + " + ".join(f"CASE WHEN {cond} THEN {bit(exam)} ELSE 0 END" for exam, cond in parts) + ")"


def candidates_sql(table: RuleTable, fiscal_year: int, as_of: date) -> str:
    """One statement, one row per person resident on `as_of` who is eligible for an exam and not
    yet invited for it in the 年度: (resident_id, sex, birth_date, suspended, eligible, excluded),
    `eligible` the set of those exams (bits of Invitation.exams) and `excluded` the part of it a
    staff exclusion covers. One read of resident, each person's last screened 年度 per interval
    group joined in (`last_screened_sql`: on SQLite from its keyed temporary table `_LAST`, made by
    `_create_last`), and on a top-up the exams the person was already invited for in the 年度 (the
    sum of their invite rows' sets, which never overlap)."""
    exclusions = _any_exclusion(fiscal_year)
    invited = _invited_before(fiscal_year)
    columns = [f"g{k}" for k in range(len(_groups(table, fiscal_year)))]
    if columns:
        last = (f"({last_screened_sql(table, fiscal_year, as_of)})" if database.is_postgres() else _LAST)
        joined = f" LEFT JOIN {last} l ON l.resident_id = r.id"
    else:
        joined = ""
    done = ""
    if invited:
        joined += (f" LEFT JOIN (SELECT resident_id, SUM(exams) AS done FROM invitation "
                   f"WHERE fiscal_year = {_lit(fiscal_year)} AND kind = {_lit(INVITE)} "
                   f"GROUP BY resident_id) d ON d.resident_id = r.id")
        done = ", COALESCE(d.done, 0) AS done"
    people = (f"SELECT r.id, r.sex, r.birth_date, CASE WHEN r.use_suspended THEN 1 ELSE 0 END AS suspended"
              + "".join(f", l.{c}" for c in columns) + done
              + f" FROM resident r{joined} WHERE {_resident_on(as_of)}")
    eligible, excluded = [], []
    for exam, rule in table.rules.items():
        where = [_birth_condition(rule, fiscal_year)]
        if rule.sex:
            where.append(f"r.sex = {_lit(rule.sex)}")
        not_screened = _not_screened(table, exam, rule, fiscal_year)
        if not_screened:
            where.append(not_screened)
        if invited:  # an initial run has none to look for
            where.append(f"(r.done & {bit(exam)}) = 0")
        condition = " AND ".join(where)
        eligible.append((exam, condition))
        if exclusions:
            excluded.append((exam, f"{condition} AND {_exclusion(_lit(exam), fiscal_year)}"))
    sets = (f"SELECT r.id AS resident_id, r.sex, r.birth_date, r.suspended, {_mask(eligible)} AS eligible, "
            f"{_mask(excluded)} AS excluded FROM ({people}) r")
    return _nonempty(sets)


def _nonempty(sets: str) -> str:
    """The rows of `sets` with an exam. The OFFSET keeps the sets a subquery of their own (both
    databases would otherwise copy the sum of CASEs into the WHERE and compute it twice)."""
    fence = " OFFSET 0" if database.is_postgres() else " LIMIT -1 OFFSET 0"
    return f"SELECT * FROM ({sets}{fence}) c WHERE c.eligible <> 0"


# The exams of a candidate row that no staff exclusion covers, and of those the ones it is
# invited for: the person not suspended.
_NOT_EXCLUDED = "(eligible - (eligible & excluded))"
INVITE_SQL = f"CASE WHEN suspended = 1 THEN 0 ELSE {_NOT_EXCLUDED} END"


def _stop_condition(fiscal_year: int, as_of: date) -> str:
    """Invitations of the 年度 not yet stopped whose person's 消除日 is on or before `as_of`
    (the 年度's invitations, kind invite: a 再勧奨 goes only to people whose invitation stands)."""
    return (f"i.resident_id IN (SELECT r.id FROM resident r WHERE r.removed_on IS NOT NULL "
            f"AND r.removed_on <= {_lit(as_of)}) AND i.fiscal_year = {_lit(fiscal_year)} "
            f"AND i.kind = {_lit(INVITE)} AND i.stopped_run_id IS NULL")


def _scalar(sql: str) -> int:
    return int(db.execute_sql(sql).fetchone()[0] or 0)


def _by_band(table: RuleTable, fiscal_year: int, source: str) -> tuple[list[list], dict[str, int]]:
    """([exam, sex, age band, count], {exam: count}) of `source` (SQL with columns exams — a set
    of Invitation.exams bits —, sex and birth_date): the band of the report (5 years) on the age
    basis of each exam's rule, what the sign-off screen sets beside last 年度's (LESSONS.md 1).
    Grouped in SQL by set, sex and age (on the 年度末 basis and, when a rule asks for it, on the
    年度当初 one), spread over the exams and banded here."""
    from kenshin.statistics.report import age_sql, band_of
    from kenshin.screening.eligibility import FISCAL_YEAR_START

    starts = [code for code, rule in table.rules.items() if rule.basis == FISCAL_YEAR_START]
    end_age = age_sql(fiscal_year, [], "x.birth_date", "''")
    start_age = age_sql(fiscal_year, starts[:1], "x.birth_date", _lit(starts[0])) if starts else "0"
    counts: dict[tuple, int] = {}
    by_exam = {code: 0 for code in table.rules}
    for exams, sex, at_end, at_start, n in db.execute_sql(
            f"SELECT x.exams, x.sex, {end_age} AS a, {start_age} AS b, COUNT(*) FROM ({source}) x "
            f"WHERE x.exams <> 0 GROUP BY 1, 2, 3, 4"):
        for exam in exam_codes(int(exams)):
            years = at_start if exam in starts else at_end
            key = (exam, int(sex), band_of(int(years)))
            counts[key] = counts.get(key, 0) + int(n)
            by_exam[exam] = by_exam.get(exam, 0) + int(n)
    return [[exam, sex, band, n] for (exam, sex, band), n in sorted(counts.items())], by_exam


def _registry() -> tuple[int | None, datetime | None]:
    """The newest resident import (or demo data): the registry snapshot a run reads."""
    from models import ImportBatch
    from kenshin.registry.resident_import import KIND

    batch = (ImportBatch.select(ImportBatch.id, ImportBatch.at).where(ImportBatch.kind.in_((KIND, "demo")))
             .order_by(ImportBatch.id.desc()).first())
    return (batch.id, batch.at) if batch else (None, None)


# --- preview -----------------------------------------------------------------------------------

@dataclass
class Preview:
    fiscal_year: int
    as_of: date
    kind: str
    rules_version: int
    by_exam: dict[str, int] = field(default_factory=dict)
    people: int = 0
    suspended: int = 0
    excluded: int = 0
    stopped: int = 0
    last_year: dict[str, int] = field(default_factory=dict)

    @property
    def invitations(self) -> int:
        return sum(self.by_exam.values())


def _kind_for(fiscal_year: int) -> str:
    return TOPUP if _invited_before(fiscal_year) else INITIAL


def _invited_by_exam(fiscal_year: int) -> dict[str, int]:
    """Invitations per exam of a 年度, from its runs' recorded counts (no scan of the rows)."""
    total: dict[str, int] = {}
    for run in InvitationRun.select().where((InvitationRun.fiscal_year == fiscal_year)
                                            & (InvitationRun.kind != REMINDER)):
        for exam, count in (run.counts or {}).get("by_exam", {}).items():
            total[exam] = total.get(exam, 0) + int(count)
    return total


def preview(fiscal_year: int, as_of: date, actor: audit.Actor) -> Preview:
    """What a run would write, counted, nothing written but the audit event of looking."""
    check_period(fiscal_year, as_of)
    table = rules_mod.rules_for(fiscal_year)
    result = Preview(fiscal_year, as_of, _kind_for(fiscal_year), table.version)
    with _batch_pragmas():
        # the candidates once, into a temporary table, then grouped per person; no transaction on
        # the database itself (on SQLite that would hold the write lock while counting)
        try:
            _create_temp(table, fiscal_year, as_of)
            result.people, result.suspended, result.excluded = _people_counts()
            _, by_exam = _by_band(table, fiscal_year, _WANTED)
        finally:
            _drop_temp()
    result.by_exam = {code: by_exam.get(code, 0) for code in table.rules}
    result.stopped = _scalar(f"SELECT COUNT(DISTINCT i.resident_id) FROM invitation i "
                             f"WHERE {_stop_condition(fiscal_year, as_of)}")
    result.last_year = _invited_by_exam(fiscal_year - 1)
    with db.atomic():
        audit.record(ACTION_PREVIEW, actor, object_type="invitation_run", object_id="",
                     details={"fiscal_year": fiscal_year, "as_of": as_of.isoformat(),
                              "count": result.invitations, "people": result.people})
    return result


# --- runs --------------------------------------------------------------------------------------

@dataclass
class RunResult:
    run_id: int
    kind: str
    invitations: int
    people: int
    stopped: int
    suspended: int
    excluded: int
    issued: int
    by_exam: dict[str, int]

    def summary(self) -> str:
        return (f"run={self.run_id} invitations={self.invitations} people={self.people} "
                f"stopped={self.stopped} suspended={self.suspended}")


def _lock_counter() -> int:
    """Take the serial counter's row for this transaction (serialising runs); its last serial."""
    updated = SeiriCounter.update(last_serial=SeiriCounter.last_serial).where(SeiriCounter.id == 1).execute()
    if not updated:
        SeiriCounter.insert(id=1, last_serial=seiri.FIRST_SERIAL - 1).execute()
    return SeiriCounter.get_by_id(1).last_serial


def _issue_numbers(fiscal_year: int, source: str, last_serial: int, now: datetime, people: int) -> int:
    """Issue a 整理番号 for the 年度 to every person in `source` (SQL with a resident_id column,
    each person once) who has none yet: consecutive serials after the counter, in resident order.
    Returns how many."""
    numbered = SeiriNumber.select().where(SeiriNumber.fiscal_year == fiscal_year).exists()
    unnumbered = (f" WHERE NOT EXISTS (SELECT 1 FROM seiri_number s WHERE s.resident_id = c.resident_id "
                  f"AND s.fiscal_year = {_lit(fiscal_year)})") if numbered else ""  # none to find yet
    new_people = (f"SELECT c.resident_id, ROW_NUMBER() OVER (ORDER BY c.resident_id) AS rn "
                  f"FROM ({source}) c{unnumbered}")
    if last_serial + people > seiri.LAST_SERIAL:
        raise Invalid({"-": ["整理番号の連番が上限に達しました"]})
    cursor = db.execute_sql(
        f"INSERT INTO seiri_number (number, resident_id, fiscal_year, issued_at) "
        f"SELECT {seiri.sql_number(f'{last_serial} + n.rn')}, n.resident_id, {_lit(fiscal_year)}, "
        f"{_lit(now)} FROM ({new_people}) n")
    count = cursor.rowcount
    if not count:
        return 0
    SeiriCounter.update(last_serial=last_serial + count).where(SeiriCounter.id == 1).execute()
    return count


@contextmanager
def _batch_pragmas():
    """SQLite: a larger page cache and in-memory temporary tables for the length of a run (the
    indexes a run writes are larger than the everyday cache); PostgreSQL: a larger work_mem for
    this session's sorts and groupings of a million people (the default 4 MB spills each to
    disk), JIT off, and larger temporary buffers (below). Restored afterwards, except
    temp_buffers (PostgreSQL refuses to change it once the session has a temporary table)."""
    if database.is_postgres():
        db.execute_sql("SET work_mem = '256MB'")
        # Every statement of a run is costed above jit_above_cost, and compiling it (with inlining
        # and optimisation) took 1.7 of the 7 seconds of the candidates' statement at 1M people:
        # the expressions are a few CASEs over dates and integers, cheap to interpret
        db.execute_sql("SET jit = off")
        # A run's temporary tables (a million people) live in the session's own buffers, 8 MB by
        # default, beyond which every page goes to a file. The size can only be set before the
        # session's first temporary table: not once one has been made (pg_my_temp_schema() then
        # names its schema).
        if not db.execute_sql("SELECT pg_my_temp_schema()::oid::bigint").fetchone()[0]:
            db.execute_sql("SET temp_buffers = '512MB'")
        try:
            yield
        finally:
            if not db.is_closed():
                db.execute_sql("RESET work_mem")
                db.execute_sql("RESET jit")
        return
    old_cache = db.execute_sql("PRAGMA cache_size").fetchone()[0]
    db.execute_sql("PRAGMA cache_size = -524288")  # 512 MiB
    db.execute_sql("PRAGMA temp_store = MEMORY")
    try:
        yield
    finally:
        db.execute_sql(f"PRAGMA cache_size = {int(old_cache)}")
        db.execute_sql("PRAGMA temp_store = DEFAULT")


def _create_last(table: RuleTable, fiscal_year: int, as_of: date) -> None:
    """SQLite: the last-screened table of `last_screened_sql`, one row per person screened, keyed
    by resident_id (the rowid: the pass writes it in key order). PostgreSQL needs none."""
    db.execute_sql(f"DROP TABLE IF EXISTS {_LAST}")
    sql = last_screened_sql(table, fiscal_year, as_of)
    if sql is None:
        return
    columns = [f"g{k}" for k in range(len(_groups(table, fiscal_year)))]
    db.execute_sql(f"CREATE TEMPORARY TABLE {_LAST} (resident_id INTEGER PRIMARY KEY, "
                   + ", ".join(f"{c} SMALLINT" for c in columns) + ")")
    db.execute_sql(f"INSERT INTO {_LAST} (resident_id, {', '.join(columns)}) {sql}")


def _create_temp(table: RuleTable, fiscal_year: int, as_of: date) -> None:
    """The candidates of the run (`candidates_sql`, a row per person) into a temporary table, in
    person order (on SQLite keyed by it: the rowid), after the last-screened table they read on
    SQLite (PostgreSQL joins that grouped pass straight in: a hash join, nothing written out)."""
    if not database.is_postgres():
        _create_last(table, fiscal_year, as_of)
    _fill_temp(candidates_sql(table, fiscal_year, as_of))


def _fill_temp(sql: str) -> None:
    """The candidate table from `sql` (resident_id, sex, birth_date, suspended, eligible, excluded;
    each person once, in person order)."""
    key = "INTEGER PRIMARY KEY" if not database.is_postgres() else "INTEGER NOT NULL"
    db.execute_sql(f"DROP TABLE IF EXISTS {_TEMP}")
    db.execute_sql(f"CREATE TEMPORARY TABLE {_TEMP} (resident_id {key}, sex SMALLINT NOT NULL, "
                   f"birth_date DATE NOT NULL, suspended SMALLINT NOT NULL, eligible INTEGER NOT NULL, "
                   f"excluded INTEGER NOT NULL)")
    db.execute_sql(f"INSERT INTO {_TEMP} (resident_id, sex, birth_date, suspended, eligible, excluded) {sql}")


# The candidates with the exams each is invited for (`exams`: not suspended, not excluded).
_WANTED = f"SELECT resident_id, sex, birth_date, {INVITE_SQL} AS exams FROM {_TEMP}"


def _people_counts() -> tuple[int, int, int]:
    """From the candidates: the people to invite (an exam neither suspended nor excluded), the
    suspended (an exam suspended and not excluded) and the excluded (an exam excluded by staff),
    in one pass."""
    people, suspended, excluded = db.execute_sql(
        f"SELECT SUM(CASE WHEN suspended = 0 AND {_NOT_EXCLUDED} <> 0 THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN suspended = 1 AND {_NOT_EXCLUDED} <> 0 THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN (eligible & excluded) <> 0 THEN 1 ELSE 0 END) FROM {_TEMP}").fetchone()
    return int(people or 0), int(suspended or 0), int(excluded or 0)


def _drop_temp() -> None:
    db.execute_sql(f"DROP TABLE IF EXISTS {_TEMP}")
    db.execute_sql(f"DROP TABLE IF EXISTS {_LAST}")


def extract(fiscal_year: int, as_of: date, actor: audit.Actor) -> RunResult:
    """An initial or top-up run: see the module docstring. One transaction, audited with its counts."""
    check_period(fiscal_year, as_of)
    now = now_utc()
    with _batch_pragmas(), db.atomic():
        last_serial = _lock_counter()
        table = rules_mod.in_force(fiscal_year, actor)
        kind = _kind_for(fiscal_year)
        registry_batch, registry_at = _registry()
        run = InvitationRun.create(fiscal_year=fiscal_year, kind=kind, as_of=as_of,
                                   rule_set=table.rule_set_id, created_by=actor.staff_id,
                                   created_label=actor.label, created_at=now, counts={},
                                   registry_batch_id=registry_batch, registry_at=registry_at)
        stop = _stop_condition(fiscal_year, as_of)
        # an initial run: the 年度 has no invitations to stop yet
        stopped = 0 if kind == INITIAL else _scalar(
            f"SELECT COUNT(DISTINCT i.resident_id) FROM invitation i WHERE {stop}")
        if stopped:
            db.execute_sql(f"UPDATE invitation SET stopped_run_id = {_lit(run.id)}, "
                           f"stopped_on = {_lit(as_of)} WHERE id IN "
                           f"(SELECT i.id FROM invitation i WHERE {stop})")
        try:
            _create_temp(table, fiscal_year, as_of)
            people, suspended, excluded = _people_counts()
            by_band, by_exam = _by_band(table, fiscal_year, _WANTED)
            wanted = f"SELECT resident_id, exams FROM ({_WANTED}) w WHERE exams <> 0"
            issued = _issue_numbers(fiscal_year, wanted, last_serial, now, people)
            # in the order of the indexes the rows go into (both begin with the person, or the run
            # and the person): each index page is written while it is at hand
            db.execute_sql(
                f"INSERT INTO invitation (run_id, resident_id, fiscal_year, exams, kind) "
                f"SELECT {_lit(run.id)}, c.resident_id, {_lit(fiscal_year)}, c.exams, {_lit(INVITE)} "
                f"FROM ({wanted}) c ORDER BY c.resident_id")
        finally:
            _drop_temp()
        by_exam = {code: int(by_exam.get(code, 0)) for code in table.rules}
        result = RunResult(run.id, kind, sum(by_exam.values()), people, stopped, suspended,
                           excluded, issued, by_exam)
        counts = {"invitations": result.invitations, "people": people, "stopped": stopped,
                  "suspended": suspended, "excluded": excluded, "issued": issued, "by_exam": by_exam,
                  "by_band": by_band}
        InvitationRun.update(counts=counts).where(InvitationRun.id == run.id).execute()
        audit.record(ACTION_EXTRACT, actor, object_type="invitation_run", object_id=run.id,
                     details={"fiscal_year": fiscal_year, "as_of": as_of.isoformat(), "kind": kind,
                              "rules_version": table.version, "count": result.invitations, **counts})
    return result


def reminder_sql(table: RuleTable, fiscal_year: int, screened_by: date, as_of: date) -> str:
    """One row per person with an invitation of the 年度 not stopped, resident on `as_of`, and an
    invited exam with no counted screening of its interval group in the 年度 dated on or before
    `screened_by` — the candidate columns of `candidates_sql` (`eligible`: those exams)."""
    invited = (f"SELECT i.resident_id, SUM(i.exams) AS invited FROM invitation i "
               f"WHERE i.fiscal_year = {_lit(fiscal_year)} AND i.kind = {_lit(INVITE)} "
               f"AND i.stopped_run_id IS NULL GROUP BY i.resident_id")
    people = (f"SELECT r.id, r.sex, r.birth_date, CASE WHEN r.use_suspended THEN 1 ELSE 0 END AS suspended, "
              f"v.invited FROM ({invited}) v JOIN resident r ON r.id = v.resident_id "
              f"WHERE {_resident_on(as_of)}")
    eligible, excluded = [], []
    for exam in table.rules:
        screened = (f"EXISTS (SELECT 1 FROM screening s WHERE s.resident_id = r.id AND "
                    f"{_EXAM} IN {_in(table.sharing(exam))} AND s.status = {_lit(CONFIRMED)} AND "
                    f"s.fiscal_year = {_lit(fiscal_year)} AND s.exam_date <= {_lit(screened_by)})")
        condition = f"{has('r.invited', exam)} AND NOT {screened}"
        eligible.append((exam, condition))
        excluded.append((exam, f"{condition} AND {_exclusion(_lit(exam), fiscal_year)}"))
    sets = (f"SELECT r.id AS resident_id, r.sex, r.birth_date, r.suspended, {_mask(eligible)} AS eligible, "
            f"{_mask(excluded)} AS excluded FROM ({people}) r")
    return _nonempty(sets)


def remind(fiscal_year: int, screened_by: date, as_of: date, actor: audit.Actor) -> RunResult:
    """再勧奨: a new run of the people invited for the 年度 (not stopped) who are still resident on
    `as_of`, not suspended nor excluded, and have no counted screening of the exam's interval group
    in the 年度 dated on or before `screened_by`."""
    check_period(fiscal_year, as_of)
    if screened_by > as_of:
        raise Invalid({"screened_by": ["受診の確認日は基準日以前の日付です"]})
    now = now_utc()
    with db.atomic():
        _lock_counter()
        table = rules_mod.in_force(fiscal_year, actor)
        registry_batch, registry_at = _registry()
        run = InvitationRun.create(fiscal_year=fiscal_year, kind=REMINDER, as_of=as_of,
                                   rule_set=table.rule_set_id, screened_by=screened_by,
                                   created_by=actor.staff_id, created_label=actor.label,
                                   created_at=now, counts={}, registry_batch_id=registry_batch,
                                   registry_at=registry_at)
        try:
            _fill_temp(reminder_sql(table, fiscal_year, screened_by, as_of))
            people, suspended, excluded = _people_counts()
            by_band, by_exam = _by_band(table, fiscal_year, _WANTED)
            db.execute_sql(
                f"INSERT INTO invitation (run_id, resident_id, fiscal_year, exams, kind) "
                f"SELECT {_lit(run.id)}, w.resident_id, {_lit(fiscal_year)}, w.exams, {_lit(REMIND)} "
                f"FROM ({_WANTED}) w WHERE w.exams <> 0 ORDER BY w.resident_id")
        finally:
            _drop_temp()
        by_exam = {code: int(by_exam.get(code, 0)) for code in table.rules}
        result = RunResult(run.id, REMINDER, sum(by_exam.values()), people, 0, suspended, excluded,
                           0, by_exam)
        counts = {"invitations": result.invitations, "people": people, "stopped": 0,
                  "suspended": suspended, "excluded": excluded, "issued": 0, "by_exam": by_exam,
                  "screened_by": screened_by.isoformat(), "by_band": by_band}
        InvitationRun.update(counts=counts).where(InvitationRun.id == run.id).execute()
        audit.record(ACTION_REMIND, actor, object_type="invitation_run", object_id=run.id,
                     details={"fiscal_year": fiscal_year, "as_of": as_of.isoformat(),
                              "rules_version": table.version, "count": result.invitations, **counts})
    return result


def get_run(run_id: int) -> InvitationRun:
    run = InvitationRun.get_or_none(InvitationRun.id == run_id)
    if run is None:
        raise NotFound("抽出結果が見つかりません")
    return run


def runs(fiscal_year: int | None = None, limit: int = 50) -> list[InvitationRun]:
    query = InvitationRun.select().order_by(InvitationRun.id.desc()).limit(limit)
    if fiscal_year is not None:
        query = query.where(InvitationRun.fiscal_year == fiscal_year)
    return list(query)


# --- sign-off (承認, LESSONS.md 1) ---------------------------------------------------------------

NOT_SIGNED = ("この抽出はまだ承認されていません。抽出を実行した人とは別の職員が、対象者の条件と件数を"
              "確認して承認するまで、受診券・宛名ラベルの印刷と委託先ファイルの出力はできません。")
OWN_RUN = "抽出を実行した本人は承認できません。別の職員が承認してください。"
ALREADY_SIGNED = "この抽出は承認済みです。"
NOT_CONFIRMED = "対象者の条件と件数を確認したら、確認欄にチェックしてください。"


class NotSignedOff(Exception):
    """A print or export of a run nobody has signed off yet; nothing was printed or written."""

    def __init__(self, run_id: int):
        super().__init__(NOT_SIGNED)
        self.run_id = run_id


def require_signed(run: InvitationRun) -> None:
    if run.signed_at is None:
        raise NotSignedOff(run.id)


def sign_off(run_id: int, confirmed: bool, actor: audit.Actor) -> InvitationRun:
    """A second person's 承認 of a run, after seeing its rules and counts: never the person who ran
    it, once per run; audited with what was signed (rules version, 年度, 基準日, counts)."""
    run = get_run(run_id)
    if run.signed_at is not None:
        raise Invalid({"signoff": [ALREADY_SIGNED]})
    if actor.staff_id is None or actor.staff_id == run.created_by_id:
        raise Invalid({"signoff": [OWN_RUN]})
    if not confirmed:
        raise Invalid({"confirmed": [NOT_CONFIRMED]})
    now = now_utc()
    with db.atomic():
        done = InvitationRun.update(signed_by=actor.staff_id, signed_label=actor.label, signed_at=now).where(
            (InvitationRun.id == run.id) & InvitationRun.signed_at.is_null()).execute()
        if not done:  # someone else signed it meanwhile
            raise Invalid({"signoff": [ALREADY_SIGNED]})
        counts = run.counts or {}
        audit.record(ACTION_SIGNOFF, actor, object_type="invitation_run", object_id=run.id,
                     details={"fiscal_year": run.fiscal_year, "as_of": run.as_of.isoformat(),
                              "kind": run.kind, "rules_version": run.rule_set.version,
                              "ran_by": run.created_label, "count": counts.get("invitations", 0),
                              "people": counts.get("people", 0)})
    return get_run(run.id)


def band_table(run: InvitationRun) -> dict:
    """The run's counts by exam, sex and age band with last 年度's beside them (from the runs of
    that 年度 of the same kind family: initial and top-up, or reminders), for the sign-off screen:
    {"rows": [(exam, sex, band, this, last or None)], "last_known": bool}."""
    from kenshin.statistics.report import band_order

    reminders = run.kind == REMINDER
    last: dict[tuple, int] = {}
    known = False
    for earlier in InvitationRun.select().where(InvitationRun.fiscal_year == run.fiscal_year - 1):
        if (earlier.kind == REMINDER) != reminders or "by_band" not in (earlier.counts or {}):
            continue
        known = True
        for exam, sex, band, n in earlier.counts["by_band"]:
            last[(exam, sex, band)] = last.get((exam, sex, band), 0) + int(n)
    this = {(exam, sex, band): int(n) for exam, sex, band, n in (run.counts or {}).get("by_band", [])}
    order = {code: i for i, code in enumerate(EXAM_ORDER)}
    keys = sorted(set(this) | set(last), key=lambda k: (order.get(k[0], len(order)), k[1], band_order(k[2])))
    return {"rows": [(e, sx, b, this.get((e, sx, b), 0), last.get((e, sx, b), 0) if known else None)
                     for e, sx, b in keys], "last_known": known}


def table_of_run(run: InvitationRun) -> RuleTable:
    """The rules version the run used (not whatever is in force now)."""
    from models import ScreeningRule

    rows = {r.exam: rule_from_row(r) for r in ScreeningRule.select().where(ScreeningRule.rule_set == run.rule_set_id)}
    ordered = {c: rows[c] for c in EXAM_ORDER if c in rows}
    ordered.update({c: r for c, r in rows.items() if c not in ordered})
    return RuleTable(run.fiscal_year, run.rule_set.version, ordered, run.rule_set_id)


# --- the run's letters: export, print ------------------------------------------------------

@dataclass
class Letter:
    resident_id: int
    seiri_no: str
    atena_no: str
    name: str
    name_kana: str
    postal_code: str
    address: str
    birth_date: date
    sex: int
    exams: list[str]


@dataclass
class Letters:
    run: InvitationRun
    letters: list[Letter]
    left_out: dict[str, int]  # why people of the run are not in it: stopped, removed, suspended
    total: int  # people in the run's letters (all lots)


def letters(run_id: int, offset: int = 0, limit: int | None = None, on: date | None = None,
            drop_removed: bool = True) -> Letters:
    """The run's people still to be sent, in 整理番号 order, each with the run's exams in the order
    of the rules table. Never people stopped (送付停止) by any run of the 年度 (FORMATS.md) nor
    people whose use is suspended; on paper printed here (`drop_removed`) not people removed from
    the registry on or before the print date either (LESSONS.md 2). The contractor file follows
    the contract (stopped only) and reports the removed-but-not-stopped as a warning."""
    run = get_run(run_id)
    on = on or today_jst()
    order = {code: i for i, code in enumerate(EXAM_ORDER)}
    status = (
        f"SELECT p.resident_id, CASE "
        f"WHEN EXISTS (SELECT 1 FROM invitation j WHERE j.resident_id = p.resident_id "
        f"AND j.fiscal_year = {_lit(run.fiscal_year)} AND j.kind = {_lit(INVITE)} "
        f"AND j.stopped_run_id IS NOT NULL) THEN 'stopped' "
        f"WHEN r.use_suspended THEN 'suspended' "
        f"WHEN r.removed_on IS NOT NULL AND r.removed_on <= {_lit(on)} THEN 'removed' "
        f"ELSE 'send' END AS status "
        f"FROM (SELECT DISTINCT resident_id FROM invitation WHERE run_id = {_lit(run.id)}) p "
        f"JOIN resident r ON r.id = p.resident_id")
    counts = dict(db.execute_sql(f"SELECT status, COUNT(*) FROM ({status}) t GROUP BY status").fetchall())
    left_out = {key: int(counts.get(key, 0)) for key in ("stopped", "removed", "suspended")}
    sent = ("send", "removed") if not drop_removed else ("send",)
    total = sum(int(counts.get(key, 0)) for key in sent)
    page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
    numbers = [n for (n,) in db.execute_sql(
        f"SELECT s.number FROM ({status}) t JOIN seiri_number s ON s.resident_id = t.resident_id "
        f"AND s.fiscal_year = {_lit(run.fiscal_year)} WHERE t.status IN ({', '.join(map(repr, sent))}) "
        f"ORDER BY s.number{page}")]
    found: dict[int, Letter] = {}
    if numbers:
        wanted = set(numbers)
        query = (Invitation.select(Invitation.resident_id, Invitation.exams, SeiriNumber.number,
                                   Resident.atena_no, Resident.name, Resident.name_kana,
                                   Resident.postal_code, Resident.address, Resident.birth_date,
                                   Resident.sex)
                 .join(Resident, on=(Resident.id == Invitation.resident_id))
                 .switch(Invitation).join(SeiriNumber, on=(
                     (SeiriNumber.resident == Invitation.resident_id)
                     & (SeiriNumber.fiscal_year == Invitation.fiscal_year)))
                 .where((Invitation.run_id == run.id)
                        & SeiriNumber.number.between(numbers[0], numbers[-1])).tuples())
        for rid, exams, number, atena, name, kana, postal, address, birth, sex in query:
            if number not in wanted:
                continue
            letter = found.get(rid)
            if letter is None:
                letter = found[rid] = Letter(rid, number, atena, name, kana, postal or "", address,
                                             birth, sex, [])
            letter.exams.extend(code for code in exam_codes(exams) if code not in letter.exams)
    out = sorted(found.values(), key=lambda x: x.seiri_no)
    for letter in out:
        letter.exams.sort(key=lambda c: order.get(c, len(order)))
    return Letters(run, out, left_out, total)


class ExportProblem(Exception):
    """The file cannot be written as asked (e.g. a name that cp932 cannot hold); nothing written."""


@dataclass
class ExportResult:
    run_id: int
    path: str
    people: int
    sha256: str
    left_out: dict[str, int]
    signed_off: bool = True

    def summary(self) -> str:
        return (f"run={self.run_id} people={self.people} stopped={self.left_out['stopped']} "
                f"suspended={self.left_out['suspended']} sha256={self.sha256}")

    def warning(self) -> str | None:
        lines = []
        if not self.signed_off:
            lines.append(f"warning: run {self.run_id} is not signed off (未承認): a second person should "
                         f"check its rules and counts on the run's screen before the letters are printed; "
                         f"this export is audited as unsigned")
        removed = self.left_out["removed"]
        if removed:
            lines.append(f"warning: {removed} people in the file have a 消除日 on or before today but are "
                         f"not stopped: run a top-up extraction (invitations extract) and export again")
        return "\n".join(lines) or None


def export_bytes(found: Letters, encoding: str = "utf-8") -> bytes:
    # The one guarded CSV writer (issue 12, finding 2): no cell runs as a spreadsheet formula.
    text = csv_text(EXPORT_COLUMNS, ([x.seiri_no, x.atena_no, x.name, x.name_kana, x.postal_code,
                                      x.address, x.birth_date.isoformat(), str(x.sex),
                                      " ".join(x.exams)] for x in found.letters))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        bad = []
        for x in found.letters:
            try:
                f"{x.name}{x.name_kana}{x.address}".encode(encoding)
            except UnicodeEncodeError:
                bad.append(x.seiri_no)
        raise ExportProblem(f"{encoding} で書けない文字を含む人がいます（整理番号 {', '.join(bad[:20])}"
                            f"{' ほか' if len(bad) > 20 else ''}）。UTF-8 で出力してください") from None


def export(run_id: int, path: str, actor: audit.Actor, encoding: str = "utf-8",
           reason: str = DEFAULT_EXPORT_REASON, signed_only: bool = True) -> ExportResult:
    """Write the run's contractor CSV (FORMATS.md columns) and audit it with its SHA-256 and reason.

    `signed_only=False` is the operator's command line: FORMATS.md fixes `invitations export` as
    a contract that writes any run, so an unsigned run is written there, said so on stderr by the
    CLI and audited as unsigned (`signed_off: False`); every screen requires the sign-off."""
    encoding = encoding.lower().replace("_", "-")
    if encoding not in ENCODINGS:
        raise Invalid({"encoding": ["文字コードは utf-8 か cp932 です"]})
    reason = (reason or "").strip()
    if not reason:
        raise Invalid({"reason": ["出力の理由を入力してください"]})
    run = get_run(run_id)
    if signed_only:
        require_signed(run)
    found = letters(run_id, drop_removed=False)
    data = export_bytes(found, encoding)
    digest = hashlib.sha256(data).hexdigest()
    directory = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".invitations-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        with db.atomic():
            audit.record(ACTION_EXPORT, actor, object_type="invitation_run", object_id=run_id,
                         details={"file_name": os.path.basename(path), "sha256": digest,
                                  "count": len(found.letters), "why": reason,
                                  "encoding": encoding, "left_out": found.left_out,
                                  "signed_off": run.signed_at is not None})
            os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return ExportResult(run_id, path, len(found.letters), digest, found.left_out,
                        run.signed_at is not None)


def record_print(run_id: int, what: str, count: int, lot: int, actor: audit.Actor) -> None:
    """A printed lot of letters or labels, audited with its count (a run not signed off refused)."""
    require_signed(get_run(run_id))
    with db.atomic():
        audit.record(ACTION_PRINT, actor, object_type="invitation_run", object_id=run_id,
                     details={"report": what, "count": count, "page": lot})


# --- per-person exclusions ----------------------------------------------------------------

def exclude(resident_id: int, exam: str, reason: str, note: str, from_year: int,
            to_year: int | None, actor: audit.Actor) -> InvitationExclusion:
    """Leave a person out of invitations (one exam or all) for a 年度 range; audited."""
    errors: dict[str, list[str]] = {}
    if exam and exam not in EXAM_ORDER:
        errors["exam"] = ["検診を選んでください"]
    if reason not in EXCLUSION_REASONS:
        errors["reason"] = ["理由を選んでください"]
    note = (note or "").strip()
    if reason == "other" and not note:
        errors["note"] = ["「その他」のときは内容を入力してください"]
    if len(note) > 400:
        errors["note"] = ["400文字以内です"]
    if to_year is not None and to_year < from_year:
        errors["to_year"] = ["終了年度が開始年度より前です"]
    resident = Resident.get_or_none(Resident.id == resident_id)
    if resident is None:
        raise NotFound("住民が見つかりません")
    if errors:
        raise Invalid(errors)
    with db.atomic():
        row = InvitationExclusion.create(resident=resident_id, exam=exam, reason=reason, note=note,
                                         from_year=from_year, to_year=to_year,
                                         created_by=actor.staff_id, created_at=now_utc())
        audit.record(ACTION_EXCLUDE, actor, resident=resident_id, object_type="invitation_exclusion",
                     object_id=row.id, details={"exam": exam or "all", "why": EXCLUSION_REASONS[reason],
                                                "from": from_year, "to": to_year})
    return row


def end_exclusion(exclusion_id: int, actor: audit.Actor) -> None:
    row = InvitationExclusion.get_or_none(InvitationExclusion.id == exclusion_id)
    if row is None or row.ended_at is not None:
        raise NotFound("除外の記録が見つかりません")
    with db.atomic():
        InvitationExclusion.update(ended_by=actor.staff_id, ended_at=now_utc()).where(
            InvitationExclusion.id == exclusion_id).execute()
        audit.record(ACTION_EXCLUDE_END, actor, resident=row.resident_id,
                     object_type="invitation_exclusion", object_id=exclusion_id)


def exclusions_of(resident_id: int) -> list[InvitationExclusion]:
    return list(InvitationExclusion.select().where(InvitationExclusion.resident == resident_id)
                .order_by(InvitationExclusion.id.desc()))


@dataclass
class ExamLine:
    """One exam on a 受診券: why this person is invited for it."""

    code: str
    name: str
    age: int
    basis_label: str
    ages_label: str
    own_range: str  # the birth-date range of the person's own age cohort, 和暦
    interval_label: str


def exam_lines(letter: Letter, table: RuleTable) -> list[ExamLine]:
    from kenshin.screening.eligibility import BASIS_LABELS, birth_ranges_label

    out = []
    for code in letter.exams:
        rule = table.rules.get(code)
        if rule is None:
            continue
        age = rule.age_of(letter.birth_date, table.fiscal_year)
        own = birth_ranges_label(Rule(ages=(age,), basis=rule.basis), table.fiscal_year)
        out.append(ExamLine(code, catalogue.EXAMS[code].name, age, BASIS_LABELS[rule.basis],
                            rule.ages_label(), own, rule.interval_label()))
    return out


def record_download(run_id: int, file_name: str, data: bytes, count: int, reason: str,
                    encoding: str, left_out: dict, actor: audit.Actor) -> str:
    """The contractor file downloaded from the screen: audited like `export`, SHA-256 and reason
    (a run not signed off refused)."""
    require_signed(get_run(run_id))
    digest = hashlib.sha256(data).hexdigest()
    with db.atomic():
        audit.record(ACTION_EXPORT, actor, object_type="invitation_run", object_id=run_id,
                     details={"file_name": file_name, "sha256": digest, "count": count,
                              "why": reason[:400], "encoding": encoding, "left_out": left_out})
    return digest
