"""Finding a resident and showing one — only people in the screening programme, every access audited.

The programme (assessment III.2): people aged 20 or more on the day (Japan time, the legal age
rule), and anyone younger who already has a counted (confirmed) screening on file — a pending
(未確定) record keyed by one clerk does not bring anyone in (issue 12, finding 1). Nobody else is
ever returned by a search or shown, whoever asks: every query carries `programme_condition`, and
every loader of one person goes through `get_in_programme` (the same NotFound, so the same 404).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Mapping

from peewee import JOIN, fn

import database
from models import ImportBatch, Institution, LastSearch, Resident, ResidentChange, Screening, Staff, db

from kenshin import audit
from kenshin.screening import catalogue
from kenshin.core import dates
from kenshin.core.errors import Invalid, NotFound
from kenshin.core.textinput import ascii_text
from kenshin.core import identifiers
from kenshin.core.kana import is_hiragana_or_katakana, kana_prefix_key
from kenshin.core.names import name_prefix_key
from kenshin.core import labels
from kenshin.registry.resident_import import REMOVAL_REASONS, describe

PROGRAMME_AGE = 20
MAX_RESULTS = 50
NARROW = "条件を絞り込んでください"
TOO_FEW = "検索条件を2つ以上入力してください（宛名番号・整理番号は1つだけで検索できます）"


# --- the programme -------------------------------------------------------------------------------

def programme_birth_cutoff(today: date) -> date:
    """The latest birth date of someone aged 20 or more on `today` by the legal rule
    (a year is gained at the end of the day before the birthday: dates.age_at)."""
    eve = today + timedelta(days=1)
    year = eve.year - PROGRAMME_AGE
    try:
        return date(year, eve.month, eve.day)
    except ValueError:  # 2月29日 in a common year: a 2月29日 birth turns 20 with 2月28日's end
        return date(year, 2, 28)


def programme_condition(today: date):
    """The programme rule as the WHERE part of a peewee query on Resident: aged 20 or more on
    `today`, or with at least one counted (confirmed) screening."""
    return _programme_condition_for(programme_birth_cutoff(today))


def _programme_condition_for(cutoff: date):
    screened = fn.EXISTS(Screening.select(Screening.id).where(
        (Screening.resident == Resident.id) & (Screening.status == "confirmed")))
    return (Resident.birth_date <= cutoff) | screened


# The same rule written out for the search's own SQL (resident aliased `r`; {p} is the parameter
# for programme_birth_cutoff). tests/test_resident_search.py checks that both select the same people.
PROGRAMME_SQL = ("(r.birth_date <= {p} OR EXISTS (SELECT 1 FROM screening s "
                 "WHERE s.resident_id = r.id AND s.status = 'confirmed'))")


def get_in_programme(resident_id, today: date | None = None) -> Resident:
    """The resident with this id if they are in the programme; NotFound otherwise (whether
    someone outside it exists is not for the asker to learn). Every loader of a resident uses it."""
    today = today or dates.today_jst()
    try:
        wanted = int(resident_id)
    except (TypeError, ValueError):
        raise NotFound("該当する方はいません") from None
    resident = database.prepared_first("resident.in_programme", _in_programme_query, wanted,
                                       programme_birth_cutoff(today))
    if resident is None:
        raise NotFound("該当する方はいません")
    return resident


def _in_programme_query(resident_id: int, cutoff: date):
    return Resident.select().where((Resident.id == resident_id)
                                   & _programme_condition_for(cutoff)).limit(1)


def in_programme(resident: Resident, today: date | None = None) -> bool:
    """Whether this (already loaded) resident is in the programme."""
    try:
        get_in_programme(resident.id, today)
    except NotFound:
        return False
    return True


# --- search criteria -----------------------------------------------------------------------------

FIELDS = ("kana", "name", "birth_date", "sex", "atena_no", "seiri_no")
LABELS = {"kana": "カナ", "name": "氏名", "birth_date": "生年月日", "sex": "性別",
          "atena_no": "宛名番号", "seiri_no": "整理番号"}


@dataclass(frozen=True)
class Criteria:
    """What the clerk typed, read: prefix keys for kana and name, a date, a code, identifiers."""

    kana: str = ""
    name: str = ""
    birth_date: date | None = None
    sex: int | None = None
    atena_no: str = ""
    seiri_no: str = ""
    typed: Mapping[str, str] = field(default_factory=dict)

    @property
    def given(self) -> list[str]:
        return [f for f in FIELDS if self.typed.get(f)]

    @property
    def has_identifier(self) -> bool:
        return bool(self.atena_no or self.seiri_no)

    def for_audit(self) -> dict:
        """The criteria as the audit log keeps them (what was typed, read)."""
        out = {}
        for name in self.given:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, date) else value
        if self.kana:
            out["kana_typed"] = self.typed["kana"]
        if self.name:
            out["name_typed"] = self.typed["name"]
        return out


def parse_criteria(form: Mapping[str, str]) -> Criteria:
    """Read the search form; Invalid names each field that cannot be read, or too few criteria."""
    typed = {name: (form.get(name) or "").strip() if isinstance(form.get(name), str) else ""
             for name in FIELDS}
    errors: dict[str, list[str]] = {}
    values: dict = {}
    if typed["kana"]:
        if not is_hiragana_or_katakana(typed["kana"]):
            errors["kana"] = ["カナ（ひらがな・カタカナ）で入力してください"]
        else:
            values["kana"] = kana_prefix_key(typed["kana"])
    if typed["name"]:
        values["name"] = name_prefix_key(typed["name"])
        if len(typed["name"]) > 60:
            errors["name"] = ["氏名は60文字以内で入力してください"]
    if typed["birth_date"]:
        try:
            values["birth_date"] = dates.parse_date(typed["birth_date"])
        except dates.DateError as exc:
            errors["birth_date"] = [f"{exc}（例: S57.4.1、昭和57年4月1日、1982-04-01）"]
    if typed["sex"]:
        if ascii_text(typed["sex"]) not in labels.SEXES:
            errors["sex"] = ["性別は男か女を選んでください"]
        else:
            values["sex"] = int(ascii_text(typed["sex"]))
    if typed["atena_no"]:
        atena = ascii_text(typed["atena_no"])
        if not identifiers.is_atena_no(atena):
            errors["atena_no"] = [identifiers.ATENA_NO_MESSAGE]
        values["atena_no"] = atena
    if typed["seiri_no"]:
        seiri = ascii_text(typed["seiri_no"]).upper()
        problem = identifiers.seiri_no_problem(seiri)
        if problem:
            errors["seiri_no"] = [problem]
        values["seiri_no"] = seiri
    criteria = Criteria(**values, typed={k: v for k, v in typed.items() if v})
    if errors:
        raise Invalid(errors)
    if not criteria.has_identifier and len(criteria.given) < 2:
        raise Invalid({"-": [TOO_FEW]})
    return criteria


# --- searching ------------------------------------------------------------------------------------

def _upper_bound(prefix: str) -> str:
    """The smallest text greater than every text starting with `prefix` (code-point order, which
    is byte order in UTF-8: what SQLite's BINARY and PostgreSQL's "C" collation compare)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000
    return prefix[:-1] + chr(min(last, 0x10FFFF))


@dataclass(frozen=True)
class Found:
    """One search result: what the clerk compares with the paper form."""

    id: int
    atena_no: str
    name: str
    name_kana: str
    sex: int
    birth_date: date
    age: int
    postal_code: str | None
    address: str
    removed_on: date | None
    removal_reason: str | None
    use_suspended: bool = False  # 利用停止 granted on a request (個人情報保護法 第98条)

    @property
    def sex_label(self) -> str:
        return labels.sex_label(self.sex)


@dataclass
class SearchResult:
    criteria: Criteria
    found: list[Found]
    more: bool  # more than MAX_RESULTS matched: only the first MAX_RESULTS are shown

    @property
    def message(self) -> str:
        if self.more:
            return f"該当者が{MAX_RESULTS}人を超えました。{NARROW}"
        if not self.found:
            return "該当する方はいません（検診の対象者のみ検索できます）"
        return f"{len(self.found)}人見つかりました"


_SELECT = ("SELECT r.id, r.atena_no, r.name, r.name_kana, r.sex, r.birth_date, r.postal_code, "
           "r.address, r.removed_on, r.removal_reason, r.use_suspended FROM resident r WHERE ")


@lru_cache(maxsize=256)
def _search_sql(shape: tuple[bool, ...], param: str) -> str:
    """The SQL text of one combination of criteria (cached: building it is the slow part)."""
    atena, seiri, birth, sex, kana, name = shape
    where = [PROGRAMME_SQL.format(p=param)]
    if atena:
        where.append(f"r.atena_no = {param}")
    if seiri:
        where.append(f"r.id IN (SELECT n.resident_id FROM seiri_number n WHERE n.number = {param})")
    if birth:
        where.append(f"r.birth_date = {param}")
    if sex:
        where.append(f"r.sex = {param}")
    # With an identifier or a birth date the query is anchored on that index (a handful of
    # rows); the kana and name prefixes are then written as substr() so that no planner takes
    # their range instead (PostgreSQL misjudges ranges of kanji and kana text by far).
    anchored = atena or seiri or birth
    for column, given in (("kana_key", kana), ("name_key", name)):
        if given and anchored:
            where.append(f"substr(r.{column}, 1, {param}) = {param}")
        elif given:
            where.append(f"r.{column} >= {param} AND r.{column} < {param}")
    # exactly the columns of the index in use, so that the scan stops after the first rows
    # (a tie-breaking id would make PostgreSQL fetch and sort every match)
    if birth or atena or seiri:
        order = "r.birth_date, r.sex, r.kana_key"
    elif kana:
        order = "r.kana_key, r.birth_date"
    elif name:
        order = "r.name_key, r.sex"
    else:
        order = "r.id"
    return f"{_SELECT}{' AND '.join(where)} ORDER BY {order} LIMIT {MAX_RESULTS + 1}"


def search_query(criteria: Criteria, today: date) -> tuple[str, list]:
    """The SQL and parameters of a search: every criterion, the programme rule, at most
    MAX_RESULTS + 1 rows.

    The order follows the index that the most selective criterion uses, so the database walks
    that index and stops after MAX_RESULTS + 1 rows instead of sorting every match:
    生年月日 → (birth_date, sex, kana_key); カナ → (kana_key, birth_date); 氏名 → (name_key, sex).
    Dates are ISO text, which SQLite stores and PostgreSQL reads as dates."""
    shape = (bool(criteria.atena_no), bool(criteria.seiri_no), criteria.birth_date is not None,
             bool(criteria.sex), bool(criteria.kana), bool(criteria.name))
    params: list = [programme_birth_cutoff(today).isoformat()]
    if criteria.atena_no:
        params.append(criteria.atena_no)
    if criteria.seiri_no:
        params.append(criteria.seiri_no)
    if criteria.birth_date is not None:
        params.append(criteria.birth_date.isoformat())
    if criteria.sex:
        params.append(criteria.sex)
    anchored = bool(criteria.atena_no or criteria.seiri_no or criteria.birth_date)
    for prefix in (criteria.kana, criteria.name):
        if prefix:
            params += [len(prefix), prefix] if anchored else [prefix, _upper_bound(prefix)]
    return _search_sql(shape, db.param), params


def _as_date(value):
    return date.fromisoformat(value) if isinstance(value, str) else value


def search(criteria: Criteria, actor: audit.Actor, today: date | None = None,
           session_id: str | None = None, again: bool = False) -> SearchResult:
    """Run a search and audit it (its criteria and hit count, not its results); no result is
    returned unless its event was written. With `session_id`, keep its criteria as the session's
    last search (`again`: shown again from it).

    The query runs before the event's transaction, not inside it: it writes nothing, and on
    SQLite a transaction here would hold the one write lock for the whole query (every other
    clerk's save and search waiting). The event then takes the audit head only for its own
    statements. A search is 5 round trips at most (tests/test_request_round_trips.py)."""
    today = today or dates.today_jst()
    sql, params = search_query(criteria, today)
    details = {"criteria": criteria.for_audit()}
    if again:
        details["shown_again"] = True
    # The session's last search goes with the event (audit.record's `also`): on PostgreSQL in
    # the event's own commit message, so neither the search nor the keeping of it pays a round
    # trip or a WAL flush of its own (the query stays a read); on SQLite it is one statement more.
    also = _remember_statement(session_id, criteria) if session_id and not again else None
    rows = db.execute_sql(sql, params).fetchall()
    audit.record("resident.search", actor, object_type="resident", outcome="ok",
                 details={**details, "hits": min(len(rows), MAX_RESULTS),
                          "more": len(rows) > MAX_RESULTS}, also=also)
    return result_of(criteria, rows, today)


def result_of(criteria: Criteria, rows: list[tuple], today: date) -> SearchResult:
    """The rows of `search_query` as the clerk sees them: at most MAX_RESULTS, by kana."""
    found = []
    for rid, atena, name, kana, sex, birth, postal, address, removed, reason, suspended \
            in rows[:MAX_RESULTS]:
        birth, removed = _as_date(birth), _as_date(removed)
        found.append(Found(rid, atena, name, kana, sex, birth, dates.age_at(birth, today),
                           postal, address, removed, reason, bool(suspended)))
    found.sort(key=lambda f: (f.name_kana, f.birth_date, f.id))
    return SearchResult(criteria, found, len(rows) > MAX_RESULTS)


# --- the session's last search (issue 20) ----------------------------------------------------------

_REMEMBER_SQL: dict[str, str] = {}


def _remember_statement(session_id: str, criteria: Criteria) -> tuple[str, tuple]:
    """Keep what was typed as this session's last search (server-side: LastSearch): the upsert
    (raw SQL built once per kind of database; on PostgreSQL a prepared statement of the
    connection in use, database.fixed) and its parameters."""
    param = db.param
    if param not in _REMEMBER_SQL:
        table = LastSearch._meta.table_name
        _REMEMBER_SQL[param] = (
            f"INSERT INTO {table} (session_id, criteria, at) VALUES ({param}, {param}, {param}) "
            f"ON CONFLICT (session_id) DO UPDATE SET criteria = excluded.criteria, at = excluded.at")
    return (database.fixed("kenshin_last_search_keep", _REMEMBER_SQL[param]),
            (session_id, _typed_json(criteria), LastSearch.at.db_value(dates.now_utc())))


def _typed(criteria: Criteria) -> dict[str, str]:
    return {name: criteria.typed[name] for name in FIELDS if criteria.typed.get(name)}


def _typed_json(criteria: Criteria) -> str:
    return LastSearch.criteria.db_value(_typed(criteria))


def last_search(session_id: str | None) -> dict[str, str] | None:
    """The criteria of this session's last search, as typed, or None."""
    if not session_id:
        return None
    row = LastSearch.get_or_none(LastSearch.session == session_id)
    return dict(row.criteria) if row is not None and row.criteria else None


def forget(session_id: str | None) -> None:
    """Clear the session's last search (「条件を消す」)."""
    if session_id:
        LastSearch.delete().where(LastSearch.session == session_id).execute()


# --- one person -----------------------------------------------------------------------------------

@dataclass
class ScreeningLine:
    exam_date: date
    age: int
    institution: str
    setting: str
    referral: bool
    outcome: str  # catalogue REFERRAL / PENDING / CLEAR / ATTENDED; "" until confirmed
    status: str
    status_label: str
    void_reason: str | None
    items: list[tuple[str, str]]


@dataclass
class ExamGroup:
    exam: str
    name: str
    screenings: list[ScreeningLine]


@dataclass
class YearGroup:
    fiscal_year: int
    label: str
    exams: list[ExamGroup]


@dataclass
class ChangeLine:
    at: object
    item: str
    label: str
    before: str
    after: str
    source: str


@dataclass
class PersonRecord:
    resident: Resident
    age: int
    today: date
    years: list[YearGroup]
    changes: list[ChangeLine]

    @property
    def sex_label(self) -> str:
        return labels.sex_label(self.resident.sex)

    @property
    def removal_label(self) -> str:
        reason = self.resident.removal_reason
        return REMOVAL_REASONS.get(reason, reason or "")


def _screenings_query(resident_id: int):
    return (Screening.select(Screening, Institution.name)
            .join(Institution, on=(Screening.institution == Institution.id))
            .where(Screening.resident == resident_id)
            .order_by(Screening.fiscal_year.desc(), Screening.exam_date, Screening.id))


def _screenings(resident_id: int) -> list[YearGroup]:
    query = database.prepared("resident.screenings", _screenings_query, int(resident_id))
    exam_order = {code: i for i, code in enumerate(catalogue.EXAMS)}
    years: dict[int, dict[str, list[ScreeningLine]]] = {}
    names: dict[str, str] = {}
    for s in query:
        try:
            items = catalogue.display_items(s.exam, s.items or {})
            names[s.exam] = catalogue.get_exam(s.exam).name
        except (NotFound, KeyError):
            items, names[s.exam] = [], s.exam
        # A pending (未確定) form is shown as pending only: its values wait for the blind second
        # keying (kenshin.verification), and an unverified 要精検 is no result yet.
        counts = s.status == "confirmed"
        line = ScreeningLine(
            _as_date(s.exam_date), s.age, s.institution.name, catalogue.SETTINGS.get(str(s.setting), ""),
            bool(s.referral) and counts,
            catalogue.outcome_of(s.exam, bool(s.referral), bool(s.pending)) if counts else "", s.status, labels.SCREENING_STATUS.get(s.status, s.status), s.void_reason,
            items if s.status != "pending" else [])
        years.setdefault(s.fiscal_year, {}).setdefault(s.exam, []).append(line)
    return [YearGroup(fy, dates.fiscal_year_label(fy),
                      [ExamGroup(code, names[code], years[fy][code])
                       for code in sorted(years[fy], key=lambda c: (exam_order.get(c, 999), c))])
            for fy in sorted(years, reverse=True)]


def _changes_query(resident_id: int):
    return (ResidentChange.select(ResidentChange, ImportBatch.id, ImportBatch.file_name, Staff.id, Staff.name)
            .join(ImportBatch, JOIN.LEFT_OUTER, on=(ResidentChange.batch == ImportBatch.id))
            .switch(ResidentChange)
            .join(Staff, JOIN.LEFT_OUTER, on=(ResidentChange.staff == Staff.id))
            .where(ResidentChange.resident == resident_id)
            .order_by(ResidentChange.at.desc(), ResidentChange.id))


def _changes(resident_id: int) -> list[ChangeLine]:
    query = database.prepared("resident.changes", _changes_query, int(resident_id))
    out = []
    for c in query:
        if c.batch_id:
            source = f"取込: {c.batch.file_name}"
        elif c.staff_id:
            source = f"職員: {c.staff.name}"
        else:
            source = ""
        out.append(ChangeLine(c.at, c.item, labels.REGISTRY_ITEMS.get(c.item, c.item),
                              describe(c.item, c.before), describe(c.item, c.after), source))
    return out


def _load(resident_id: int, actor: audit.Actor, action: str, today: date | None,
          details: dict | None = None) -> PersonRecord:
    today = today or dates.today_jst()
    # The reads first and outside a transaction (as a search): they write nothing, and a
    # transaction would hold SQLite's one write lock (BEGIN IMMEDIATE) while they run. The event
    # then goes in a transaction of its own — on PostgreSQL two round trips, the head held for
    # one and the commit (audit.record) — and nothing is shown unless it was written.
    try:
        resident = get_in_programme(resident_id, today)
    except NotFound:
        resident = None
    if resident is None:
        # Logged without a link to the person: whether they exist is not for the asker to learn.
        audit.record(action, actor, object_type="resident", object_id=resident_id,
                     outcome="not_found", details=details)
        record = None
    else:
        record = PersonRecord(resident, dates.age_at(resident.birth_date, today), today,
                              _screenings(resident.id), _changes(resident.id))
        audit.record(action, actor, resident=resident, object_type="resident",
                     object_id=resident.id, details=details)
    if record is None:
        raise NotFound("該当する方はいません")
    return record


def view(resident_id: int, actor: audit.Actor, today: date | None = None,
         details: dict | None = None) -> PersonRecord:
    """One person's page (the 5 items, registry dates, screenings, history); audited as a view
    (`details`: what else the page showed, e.g. the lists of kenshin.registry.person_page)."""
    return _load(resident_id, actor, "resident.view", today, details)


def print_record(resident_id: int, actor: audit.Actor, today: date | None = None) -> PersonRecord:
    """The same record for printing; audited as a print."""
    return _load(resident_id, actor, "print", today, details={"document": "resident_record"})
