"""Attack by hypothesis: parsers, importers and every form and htmx endpoint get made-up input.

Nothing may answer 500 or show a traceback, and a refused request or a rejected file writes
nothing (the audit event of the attempt aside). The examples are bounded and derandomized
(profile "ci", the default): the same inputs on every run, well under three minutes in all.
`HYPOTHESIS_PROFILE=deep` runs many more on a workstation.
"""
import io
import os
import re
import zipfile
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
from blueprints.web import ANY_STAFF, MACHINE, PUBLIC
from kenshin import audit
from kenshin.core import dates, kana, names
from kenshin.core.errors import Invalid
from kenshin.fhir import importer as fhir_importer
from kenshin.imports import csvimport
from kenshin.access.roles import ROLES
from kenshin.registry import institutions, resident_import, residents
from kenshin.screening import catalogue, result_import, screenings

from .conftest import login, page_csrf
from .factories import (CLI, INSTITUTION, VALID_ITEMS, make_institution, make_resident,
                        make_screening)

settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large])
settings.register_profile("deep", parent=settings.get_profile("ci"), max_examples=2000,
                          derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# What an attacker or a careless file would put in a field: near-valid values, boundaries,
# markup, SQL, spreadsheet formulas, full-width and half-width forms, huge numbers.
NASTY = [
    "", " ", "　", "0", "1", "2", "-1", "9" * 25, str(2 ** 63), str(2 ** 63 - 1), "1e400", "NaN",
    "R7.6.2", "令和7年6月2日", "S35.5.10", "H31.4.30", "R1.4.30", "M45.7.30", "T1.7.29", "元年",
    "R元.5.1", "2025-02-29", "2024-02-29", "1960-05-10", "1868-01-24", "9999-12-31", "0000-00-00",
    "チバ ハナコ", "ちば はなこ", "ﾁﾊﾞ ﾊﾅｺ", "ヴァ", "ゝゞヽヾ", "ー", "・", "千葉 花子", "髙﨑",
    "000000000001", "1234567890", "A1234567", "１２３", "ａｂｃ",
    "' OR '1'='1", "1; DROP TABLE resident;--", "\" onmouseover=\"x", "<script>alert(1)</script>",
    "=HYPERLINK(\"http://x\")", "@SUM(1)", "+1", "\t\r\n", "\x00", "%00", "../../etc/passwd",
    "colorectal", "gastric_xray", "breast", "followup", "positive", "negative", "3a", "E1",
    "park", "confirm", "save", "on", "true", "a" * 3000,
]
value = st.one_of(st.sampled_from(NASTY), st.text(max_size=30),
                  st.integers(-2 ** 70, 2 ** 70).map(str))


@pytest.fixture
def registry(db):
    make_institution()
    make_resident()
    return db


# --- parsers: 和暦, kana, names, search criteria, entry items -------------------------------------

@given(st.one_of(value, st.from_regex(
    r"\A[MTSHRmtshr明大昭平令][0-9元]{1,3}[.年/-][0-9]{1,2}[.月/-][0-9]{1,2}日?\Z")))
def test_dates_are_read_or_refused_with_a_reason(text):
    try:
        read = dates.parse_date(text)
    except dates.DateError as exc:
        assert str(exc)
        return
    assert isinstance(read, date)
    # what was read reads back the same from both written forms
    assert dates.parse_date(read.isoformat()) == read
    assert dates.parse_date(dates.format_wareki(read)) == read


@given(value)
def test_kana_is_stored_keyed_or_refused_with_a_reason(text):
    assert isinstance(kana.kana_key(text), str)
    assert isinstance(kana.kana_prefix_key(text), str)
    assert isinstance(names.name_key(text), str)
    assert isinstance(names.name_prefix_key(text), str)
    try:
        stored = kana.normalize_kana(text)
    except kana.KanaError as exc:
        assert str(exc)
        return
    assert kana.normalize_kana(stored) == stored
    assert kana.kana_key(stored) == kana.kana_key(text)


SEARCH_FIELDS = ("kana", "name", "birth_date", "sex", "atena_no", "seiri_no")


@given(st.dictionaries(st.sampled_from(SEARCH_FIELDS), value, max_size=6))
@settings(max_examples=40)
def test_search_criteria_are_read_or_refused_by_field(registry, form):
    try:
        criteria = residents.parse_criteria(form)
    except Invalid as exc:
        assert exc.errors and all(exc.errors.values())
        return
    sql, params = residents.search_query(criteria, date(2026, 4, 1))
    for typed in form.values():  # whatever was typed goes in as a parameter, never as SQL
        if len(typed) > 3 and typed.strip() and not typed.strip().isdigit():
            assert typed.strip() not in sql
    assert residents.search(criteria, CLI) is not None  # and the database takes it


@given(st.sampled_from(sorted(catalogue.EXAMS)), st.dictionaries(
    st.sampled_from(sorted({key for exam in catalogue.EXAMS.values() for key in exam.all_keys})),
    value, max_size=12), value, value, st.sampled_from([None, 1, 2, 3]))
def test_entry_items_are_checked_or_refused_by_item(exam, items, exam_date, setting, sex):
    base = dict(VALID_ITEMS.get(exam, {}))
    base.update(items)
    checked, errors = screenings.check(
        exam=exam, exam_date=exam_date, institution=INSTITUTION, setting=setting, items=base,
        sex=sex, birth_date=date(1960, 5, 10), today=date(2026, 4, 1),
        institutions={INSTITUTION: 1})
    assert (checked is None) == bool(errors)
    if errors:
        assert all(isinstance(m, str) and m for messages in errors.values() for m in messages)


# --- importers: results CSV, residents CSV, institutions, FHIR bundles ---------------------------

def _counts():
    return tuple(model.select().count() for model in (
        models.Resident, models.Screening, models.QueueItem, models.ImportBatch,
        models.Institution))


def _csv(columns, rows, encoding="utf-8"):
    text = ",".join(columns) + "\n" + "".join(
        ",".join('"' + cell.replace('"', '""') + '"' if re.search(r'[",\n\r]', cell) else cell
                 for cell in row) + "\n" for row in rows)
    return text.encode(encoding, errors="replace")


def _file(required, optional, valid):
    """A CSV of the importer's columns — mostly the required ones and some optional, at times one
    missing or unknown, in any order — and rows of near-valid cells (valid[i] for column i)."""
    place = {c: i for i, c in enumerate(list(required) + list(optional))}
    cols = st.tuples(st.lists(st.sampled_from(list(optional) * 3 + ["unknown", "個人番号"]),
                              unique=True, max_size=4),
                     st.integers(-len(required), len(required) - 1).map(lambda n: max(n, -1)),
                     st.randoms(use_true_random=False)).map(
        lambda t: _columns(list(required), t[0], t[1], t[2]))

    def cell(column):
        good = valid[place[column]] if column in place else ""
        return st.integers(0, 9).flatmap(lambda n: st.just(good) if n < 8 else value)
    return cols.flatmap(lambda cs: st.tuples(st.just(cs), st.lists(
        st.tuples(*[cell(c) for c in cs]).map(list), max_size=5)))


def _columns(required, extra, drop, rnd):
    cols = [c for i, c in enumerate(required) if i != drop] + extra
    rnd.shuffle(cols)
    return cols


def _check_import(run_it, data):
    before = _counts()
    events = models.AuditEvent.select().count()
    result = run_it(csvimport.Source.from_bytes("fuzz.csv", data))
    if not result.written:
        assert _counts() == before, result.lines()[:3]
    assert models.AuditEvent.select().count() == events + 1  # one event either way


RESULT_COLUMNS = ["seiri_no", "atena_no", "name", "name_kana", "birth_date", "sex", "exam", "exam_date",
          "institution_code", "setting", "fobt_result"]
RESULT_VALID = ["", "000000000001", "千葉 花子", "チバ ハナコ", "1960-05-10", "2", "colorectal",
                "2025-06-02", INSTITUTION, "1", "positive"]


@given(st.one_of(_file(RESULT_COLUMNS[:10], RESULT_COLUMNS[10:], RESULT_VALID).map(
    lambda f: _csv(*f)),
                 st.binary(max_size=300)))
@settings(max_examples=40)
def test_results_files_are_imported_whole_or_not_at_all(registry, data):
    _check_import(lambda source: result_import.run(source, CLI), data)


RESIDENT_VALID = ["000000000009", "千葉 次郎", "チバ ジロウ", "1", "1970-01-01", "千葉市中央区",
                  "260-0026", "2000-04-01", "", "", "90000000009"]


@given(st.one_of(_file(resident_import.COLUMNS.required, resident_import.COLUMNS.optional,
                       RESIDENT_VALID).map(lambda f: _csv(*f)), st.binary(max_size=300)))
@settings(max_examples=40)
def test_resident_extracts_are_imported_whole_or_not_at_all(registry, data):
    _check_import(lambda source: resident_import.run(source, CLI), data)


@given(st.one_of(_file(institutions.COLUMNS.required, institutions.COLUMNS.optional,
                       ["9876543210", "千葉南クリニック", "260-0001", "千葉市", "043-000-0000", "1",
                        "0"]).map(lambda f: _csv(*f)), st.binary(max_size=300)))
@settings(max_examples=40)
def test_institution_files_are_imported_whole_or_not_at_all(registry, data):
    _check_import(lambda source: institutions.import_file(source, CLI), data)


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _sample_bundle() -> bytes:
    for root, _dirs, files in os.walk(FIXTURES):
        for name in sorted(files):
            if name.endswith(".json") and "bundle" in name.lower():
                with open(os.path.join(root, name), "rb") as handle:
                    return handle.read()
    return b'{"resourceType": "Bundle", "type": "document", "entry": []}'


def _mutations(data: bytes):
    """The IG sample, cut, with bytes changed, or as a JSON value of another shape; or a ZIP."""
    return st.one_of(
        st.integers(0, len(data)).map(lambda n: data[:n]),
        st.tuples(st.integers(0, max(len(data) - 1, 0)), st.binary(min_size=1, max_size=8)).map(
            lambda t: data[:t[0]] + t[1] + data[t[0] + len(t[1]):]),
        st.sampled_from([b"{}", b"[]", b"null", b'{"resourceType": "Bundle"}', b"\xef\xbb\xbf{}",
                         b'{"resourceType": "Bundle", "entry": [{}]}', b"1" * 400]),
        st.binary(max_size=200),
    )


def _zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n, member in enumerate(members):
            archive.writestr(f"b{n}.json", member)
    return buffer.getvalue()


@given(st.data())
@settings(max_examples=40)
def test_fhir_bundles_are_imported_whole_or_not_at_all(registry, data):
    sample = _sample_bundle()
    if data.draw(st.booleans()):
        name, payload = "fuzz.zip", _zip(data.draw(st.lists(_mutations(sample), max_size=3)))
    else:
        name, payload = "fuzz.json", data.draw(_mutations(sample))
    before = _counts()
    try:
        bundles = fhir_importer.from_upload(name, payload)
    except csvimport.CannotOpen:
        return
    result = fhir_importer.run(bundles, CLI) if bundles else None
    if result is not None and not result.written:
        assert _counts() == before


# --- every form and htmx endpoint, as each role ----------------------------------------------------

def _field_names(app, client):
    """Every field name a form of the app shows (templates and rendered pages) and every item key."""
    found = set()
    folder = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates")
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), encoding="utf-8") as handle:
                found.update(re.findall(r'name="([A-Za-z_0-9]+)"', handle.read()))
    for rule in app.url_map.iter_rules():
        if ("GET" in rule.methods and not rule.arguments and not rule.rule.startswith("/static")
                and not rule.endpoint.startswith("auth.")):  # /lock would lock the session
            html = client.get(rule.rule).get_data(as_text=True)
            found.update(re.findall(r'name="([A-Za-z_0-9]+)"', html))
    for exam in catalogue.EXAMS.values():
        found.update(exam.all_keys)
    found.update(SEARCH_FIELDS)
    found.discard("csrf_token")
    return sorted(found)


def _endpoints(app, role):
    """Every route the role may use (the others answer 403 before reading anything: the
    route × role walk covers them), but for signing out and locking."""
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "roles", frozenset())
        if PUBLIC in roles or MACHINE in roles or rule.endpoint in ("auth.logout", "auth.lock"):
            continue
        if ANY_STAFF not in roles and role not in roles:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule, method))
    return sorted(out, key=lambda pair: (pair[0].rule, pair[1]))


def _arg(converter_name):
    if "int" in converter_name:
        return st.sampled_from([1, 2, 3, 0, 99999, 2 ** 63 - 1])
    return st.one_of(st.sampled_from(["x", "1", "2025", "colorectal", "residents", "results"]),
                     st.text(alphabet="abc019-_", min_size=1, max_size=8))


def _url(data, rule):
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__.lower()
        values[arg] = data.draw(_arg(converter))
    return rule.build(values, append_unknown=False)[1]


DATA_TABLES = [m for m in models.ALL_MODELS if m.__name__ not in (
    "AuditEvent", "AuditHead", "UserSession", "SchemaMigration",
    "PendingChallenge")]


def _data_counts():
    sql = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{m._meta.table_name}")' for m in DATA_TABLES)
    return models.db.execute_sql(sql).fetchone()


def _world(make_staff):
    """Something behind each id: residents, an institution, screenings, staff of every role."""
    make_institution()
    for n in (1, 2, 3):
        person = make_resident(atena_no=f"{n:012d}", birth=date(1955 + n, 5, 10))
        make_screening(person)
    for role in ROLES:
        make_staff(role)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_endpoint_takes_made_up_input_without_a_500_or_a_partial_write(
        app, client, db, make_staff, role):
    _world(make_staff)
    person = make_staff(role)
    assert login(client, person).get_json()["ok"]
    names = _field_names(app, client)
    endpoints = _endpoints(app, role)
    state = {"token": page_csrf(client)}
    form = st.dictionaries(st.sampled_from(names), st.one_of(value, st.lists(value, max_size=3)),
                           max_size=10)

    @given(st.data())
    @settings(max_examples=int(os.environ.get("FUZZ_ENDPOINT_EXAMPLES", "120")))
    def attack(data):
        rule, method = data.draw(st.sampled_from(endpoints))
        url = _url(data, rule)
        fields = data.draw(form)
        if method == "GET":
            response = client.get(url, query_string=fields)
        else:
            if data.draw(st.booleans()):
                fields["file"] = (io.BytesIO(data.draw(st.binary(max_size=200))),
                                  data.draw(st.sampled_from(["f.csv", "f.json", "f.zip", "../f"])))
            fields["csrf_token"] = state["token"]
            before = _data_counts()
            headers = {"X-CSRFToken": state["token"]}
            if data.draw(st.booleans()):
                headers["HX-Request"] = "true"
            response = client.open(url, method=method, data=fields, headers=headers)
            if response.status_code >= 400:
                assert _data_counts() == before, (method, url, response.status_code)
        body = response.get_data(as_text=True) if response.mimetype.startswith("text") else ""
        assert response.status_code != 500 and "Traceback" not in body, (method, url, fields)
        if response.status_code in (302, 303) and "/login" in response.headers.get("Location", "") \
                or response.headers.get("Location", "").endswith("/lock"):
            assert login(client, person).get_json()["ok"]  # the input ended the session: again
            state["token"] = page_csrf(client)

    attack()
    models.db.connect(reuse_if_open=True)
    assert audit.verify().ok

