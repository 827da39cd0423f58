"""Many clerks at once, through gunicorn, with everything they did checked afterwards.

    python bench/load.py --users U --seconds S [--database-url URL] [--import-rows N]

1. The database: the URL given, or bench/data/entry-1000000.sqlite — the one bench/entry.py
   builds (1,000,000 residents, 5,000,000 screenings; built here the same way when empty).
2. U clerks are created (each a staff member with a password and a software WebAuthn
   authenticator, tests/softauthn.py, as bench/clerk.py does), and gunicorn starts on loopback
   with the settings of deploy/kenshin.service: deploy/gunicorn.conf.py, 4 sync workers,
   --timeout 300, the same access
   log format. The app is `app:create_app()` wrapped by `server_app()` below, which only times
   each request (wall time, time on the database cursor, and the audit head's statement) into
   bench/data/load-timing-PID.tsv; --plain runs `app:create_app()` itself.
3. Every clerk signs in through the real login over HTTP (password, then the WebAuthn
   assertion) and then, for S seconds, repeats with a 1-second pause after every request (ten
   times a busy clerk's pace) a day's mix: a search typed kana by kana (three searches as the
   screen sends them while typing: 1, 2 and all the kana of the family name, with the 生年月日),
   open a person, key a form (the batch header once per 25 forms, then the save), open the
   突合待ち queue, print a person (the print view). Bounded: at most S seconds of actions and
   2×S requests per clerk, every request with a 60 s timeout, loopback only.
   With --import-rows N, a clinic file of N rows (bench/import_results.py's generator) is
   imported with `flask import-results` a few seconds into the run, and the searches' p95
   while it ran is printed beside the rest.
4. Then gunicorn stops and what was done is checked against the database: every save that
   answered 2xx is there exactly once (by its number and by person + exam + day) with exactly
   one audit event; every audited request (search, person, print, queue) left exactly one event
   of its action for its clerk; `audit.verify` walks the whole chain.

Prints the load average, per-kind client percentiles, where the server's time went, the CPU
time the load generator, gunicorn and PostgreSQL used during the run (from /proc), the
checks, and as its last line `load users=U rps=R p50=Xms p95=Yms errors=E lost=L`
(E: answers other than the expected status and failed requests; L: writes or audit events
missing or doubled).
"""
from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from urllib.parse import urlencode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(ROOT, "tests"))

DATA = os.path.join(BENCH, "data")
AUDIT_KEY = "bench-audit-key"  # bench/entry.py's: one chain in the database it builds
SECRET = "bench-load-secret"
PASSWORD = "bench clerk password 2026"
STACK = 25
PAUSE = 1.0
TIMEOUT = 60
MIX = (("search", 4), ("open", 2), ("entry", 2), ("queue", 1), ("print", 1))
AUDITED = {"search": "resident.search", "open": "resident.view", "print": "print",
           "queue": "queue.view"}
ACCESS_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(L)s'  # deploy/kenshin.service


def log(message: str) -> None:
    print(message, flush=True)


# --- the server side: gunicorn's app, timed ---------------------------------------------------

def server_app():
    """`app:create_app()` with a timer around each request (gunicorn calls this per worker).

    Per request, one line in bench/data/load-timing-PID.tsv: method, path kind, status, wall ms,
    ms on the database cursor (every statement, BEGIN and COMMIT included), ms of the audit
    head's statement (PostgreSQL: UPDATE audit_head …, prepared as kenshin_audit_next — the
    wait for the head row's lock is spent there; SQLite: the event's INSERT, which waits for
    the one write lock), statements."""
    from app import create_app
    import models

    app = create_app()
    state = threading.local()
    out = open(os.path.join(DATA, f"load-timing-{os.getpid()}.tsv"), "a", buffering=1)
    database = models.db.obj
    real_cursor = type(database).cursor

    class Timed:
        __slots__ = ("_cursor",)

        def __init__(self, cursor):
            self._cursor = cursor

        def execute(self, sql, params=()):
            started = time.perf_counter()
            try:
                return self._cursor.execute(sql, params)
            finally:
                spent = time.perf_counter() - started
                state.db += spent
                state.n += 1
                text = sql if isinstance(sql, str) else str(sql)
                if ("audit_head SET seq" in text or "EXECUTE kenshin_audit_next" in text
                        or text.startswith("INSERT INTO audit_event")):
                    state.head += spent

        def __getattr__(self, name):
            return getattr(self._cursor, name)

        def __iter__(self):
            return iter(self._cursor)

    database.cursor = lambda *args, **kwargs: Timed(real_cursor(database, *args, **kwargs))
    inner = app.wsgi_app

    def timed(environ, start_response):
        state.db, state.head, state.n = 0.0, 0.0, 0
        status = ["-"]

        def starting(code, headers, exc_info=None):
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        started = time.perf_counter()
        try:
            body = inner(environ, starting)
            chunks = list(body)  # render fully inside the timer
            if hasattr(body, "close"):
                body.close()
        finally:
            wall = time.perf_counter() - started
            out.write(f"{environ['REQUEST_METHOD']}\t{_kind(environ['PATH_INFO'])}\t{status[0]}\t"
                      f"{wall * 1000:.3f}\t{state.db * 1000:.3f}\t{state.head * 1000:.3f}\t{state.n}\n")
        return chunks

    app.wsgi_app = timed
    return app


def _kind(path: str) -> str:
    if path.startswith("/residents/search"):
        return "search"
    if re.fullmatch(r"/residents/\d+", path):
        return "open"
    if path.endswith("/print"):
        return "print"
    if path.startswith("/entry/save"):
        return "entry"
    if path.startswith("/entry/batch"):
        return "batch"
    if path.startswith("/queue"):
        return "queue"
    if path.startswith("/login"):
        return "login"
    return "other"


# --- preparing the database and the clerks ----------------------------------------------------

def prepare(url: str, users: int, residents: int, screenings: int, seed: int, origin: str):
    """Build or reuse the database; create the clerks; pick the people they will look for."""
    import database
    import models
    from app import create_app
    from kenshin import audit
    from kenshin.access import passkeys, staff
    from kenshin.access.passwords import hash_password
    from kenshin.core import dates
    from kenshin.registry import residents as registry
    from softauthn import SoftAuthenticator
    import entry as entry_bench  # bench/entry.py

    app = create_app({"DATABASE_URL": url, "AUDIT_KEY": AUDIT_KEY, "SECRET_KEY": SECRET,
                      "ORIGIN": origin, "RP_ID": "localhost"})
    rng = random.Random(seed)
    with app.app_context():
        database.create_schema()
        entry_bench.build(residents, screenings, seed)
        if database.is_postgres():
            models.db.execute_sql("ANALYZE user_session")
        rp = passkeys.RelyingParty("localhost", app.config["RP_NAME"], origin)
        password_hash = hash_password(PASSWORD)  # one scrypt for all: the login still checks it
        run = uuid.uuid4().hex[:6]
        clerks = []
        for n in range(users):
            login_id = f"load{run}{n:04d}"
            person, _ = staff.create(login_id, f"負荷 {n:04d}", "健康支援課", ["clerk"],
                                     audit.Actor.system("bench"))
            authenticator = SoftAuthenticator(origin=origin, rp_id="localhost")
            options, challenge = passkeys.registration_options(rp, person)
            with models.db.atomic():
                passkeys.register(rp, person, challenge, authenticator.register(options), "bench")
                (models.Staff.update(password_hash=password_hash, enroll_token_hash=None)
                 .where(models.Staff.id == person.id).execute())
            clerks.append((person.id, login_id, authenticator))
        cutoff = registry.programme_birth_cutoff(dates.today_jst())
        top = models.Resident.select(models.Resident.id).order_by(models.Resident.id.desc()).scalar()
        people = []
        while len(people) < max(2000, users * 40):
            ids = rng.sample(range(1, top + 1), 500)
            people.extend(models.Resident.select(
                models.Resident.id, models.Resident.atena_no, models.Resident.name_kana,
                models.Resident.birth_date, models.Resident.sex)
                .where(models.Resident.id.in_(ids) & (models.Resident.birth_date <= cutoff)
                       & models.Resident.removed_on.is_null()).tuples())
        institution = models.Institution.select(models.Institution.code).where(
            models.Institution.active == True).scalar()  # noqa: E712
        head_seq = models.AuditHead.select(models.AuditHead.seq).scalar() or 0
        models.db.close()
    people = [(rid, atena, kana, dates.parse_date(str(birth)), sex)
              for rid, atena, kana, birth, sex in people]
    return clerks, people, institution, head_seq


# --- the HTTP clerk ---------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
SAVED = re.compile(r"保存しました（No\.(\d+)")


class Failed(Exception):
    pass


class Browser:
    """One clerk's browser: the session cookie, the CSRF token, plain HTTP/1.1 on loopback."""

    def __init__(self, port: int, cookie_name: str = "kenshin"):
        self.port, self.cookie_name = port, cookie_name
        self.cookie = ""
        self.token = ""

    def request(self, method: str, path: str, form: dict | None = None, body: str | None = None,
                headers: dict | None = None, content_type: str = "application/x-www-form-urlencoded"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            sent = {"Host": f"localhost:{self.port}", **(headers or {})}
            if self.cookie:
                sent["Cookie"] = f"{self.cookie_name}={self.cookie}"
            if form is not None:
                body = urlencode(form)
            if body is not None:
                sent["Content-Type"] = content_type
            conn.request(method, path, body=body.encode() if body is not None else None, headers=sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for name, value in response.getheaders():
                if name.lower() == "set-cookie" and value.startswith(self.cookie_name + "="):
                    self.cookie = value.split(";", 1)[0].split("=", 1)[1]
            return response.status, text
        finally:
            conn.close()

    def csrf_from(self, html: str) -> str:
        match = CSRF.search(html)
        if not match:
            raise Failed("no CSRF token on the page")
        return match[1] or match[2]

    def sign_in(self, login_id: str, authenticator) -> None:
        status, html = self.request("GET", "/login")
        token = self.csrf_from(html)
        status, html = self.request("POST", "/login", form={"csrf_token": token, "login_id": login_id,
                                                             "password": PASSWORD})
        if status != 200 or "生体認証" not in html:
            raise Failed(f"password step answered {status}")
        token = self.csrf_from(html)
        status, text = self.request("POST", "/login/options", headers={"X-CSRFToken": token})
        if status != 200:
            raise Failed(f"options answered {status}")
        status, text = self.request("POST", "/login/verify", body=authenticator.assert_(json.loads(text)),
                                    headers={"X-CSRFToken": token}, content_type="application/json")
        if status != 200 or not json.loads(text).get("ok"):
            raise Failed(f"verify answered {status}: {text[:200]}")
        status, html = self.request("GET", "/residents/")
        if status != 200:
            raise Failed(f"search page answered {status}")
        self.token = self.csrf_from(html)


class Clerk:
    """One clerk's day: the mix, each request timed, the saves remembered for the check."""

    EXAMS = ("colorectal", "lung", "gastric_xray", "breast", "cervical", "hepatitis")

    def __init__(self, n, staff_id, login_id, authenticator, port, people, institution, seed):
        self.n, self.staff_id, self.login_id = n, staff_id, login_id
        self.authenticator = authenticator
        self.browser = Browser(port)
        self.rng = random.Random(seed * 1000 + n)
        self.people = people
        self.institution = institution
        self.results: list[tuple[str, float, float, int]] = []  # kind, start, seconds, status
        self.ok = {kind: 0 for kind in AUDITED}
        self.saved: list[tuple[int, int, str, str]] = []  # screening id, resident id, exam, day
        self.refused = 0
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.forms = 0
        self.exam = None

    def _timed(self, kind, method, path, expect=(200,), **kwargs):
        started = time.perf_counter()
        try:
            status, text = self.browser.request(method, path, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a failed request is counted, the clerk goes on
            self.results.append((kind, started, time.perf_counter() - started, 0))
            self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return 0, ""
        self.results.append((kind, started, time.perf_counter() - started, status))
        if status not in expect:
            self.errors.append(f"{kind} {method} {path}: {status}")
        elif kind in self.ok and status == 200:
            self.ok[kind] += 1
        return status, text

    def _person(self):
        return self.people[self.rng.randrange(len(self.people))]

    def _headers(self, htmx=True):
        headers = {"X-CSRFToken": self.browser.token}
        if htmx:
            headers["HX-Request"] = "true"
        return headers

    def run(self, end: float, max_requests: int) -> None:
        from kenshin.core import dates

        kinds, weights = zip(*MIX)
        time.sleep(self.rng.random() * PAUSE)  # not all in step
        while time.monotonic() < end and len(self.results) < max_requests:
            action = self.rng.choices(kinds, weights)[0]
            rid, atena, kana, birth, sex = self._person()
            if action == "search":
                family = kana.split("\u3000")[0]
                typed = dates.format_wareki(birth, "short")
                for size in (1, 2, len(family)):
                    self._timed("search", "POST", "/residents/search", headers=self._headers(),
                                form={"kana": family[:size], "birth_date": typed})
                    time.sleep(PAUSE)
                    if time.monotonic() >= end:
                        return
                continue
            if action == "open":
                self._timed("open", "GET", f"/residents/{rid}")
            elif action == "print":
                self._timed("print", "POST", f"/residents/{rid}/print", headers=self._headers(False),
                            form={"csrf_token": self.browser.token})
            elif action == "queue":
                self._timed("queue", "GET", "/queue/")
            else:
                self._key_form(rid, atena, kana, birth, sex)
            time.sleep(PAUSE)

    def _key_form(self, rid, atena, kana, birth, sex) -> None:
        import entry as entry_bench
        from kenshin.core import dates

        if self.forms % STACK == 0:
            self.exam = self.EXAMS[self.rng.randrange(len(self.EXAMS))]
            self._timed("batch", "POST", "/entry/batch", headers=self._headers(),
                        form={"institution_code": self.institution, "setting": "1", "exam": self.exam})
            time.sleep(PAUSE)
        self.forms += 1
        exam = self.exam
        if sex == 1 and exam in entry_bench.WOMEN_ONLY:
            exam = "colorectal"
            if exam != self.exam:  # the batch says which exam: keep to it
                return
        today = dates.today_jst()
        start = date(dates.fiscal_year(today), 4, 1)
        day = start + timedelta(days=self.rng.randrange(max(1, (today - start).days + 1)))
        form = {"seiri_no": "", "atena_no": atena, "name_kana": kana, "birth_date": birth.isoformat(),
                "sex": str(sex), "name": "", "exam_date": day.isoformat(), "sheet": "1",
                **entry_bench.FORMS[exam]}
        status, text = self._timed("entry", "POST", "/entry/save", expect=(200, 422),
                                   headers=self._headers(), form=form)
        if status == 200:
            match = SAVED.search(text)
            if match:
                self.saved.append((int(match[1]), rid, exam, day.isoformat()))
            else:
                self.errors.append("entry: 200 without 保存しました")
        elif status == 422:
            self.refused += 1
            if self.refused <= 2:  # why, in the report (a duplicate of the demo's data, say)
                summary = text.split('class="error-summary"', 1)[-1] if "error-summary" in text else text
                found = [f.strip() for f in re.findall(r'class="error"[^>]*>([^<]+)', text) if f.strip()]
                if "error-summary" in text:
                    found.insert(0, " ".join(re.sub(r"<[^>]+>", " ", summary.split(">", 1)[-1].split("</div>", 1)[0]).split())[:200])
                self.notes.append(f"entry refused: {' / '.join(found[:3])}")


# --- running gunicorn -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, plain: bool, workers: int):
    for old in glob.glob(os.path.join(DATA, "load-timing-*.tsv")):
        os.remove(old)
    env = dict(os.environ, KENSHIN_DATABASE_URL=url, KENSHIN_AUDIT_KEY=AUDIT_KEY,
               KENSHIN_SECRET_KEY=SECRET, KENSHIN_ORIGIN=f"http://localhost:{port}",
               KENSHIN_RP_ID="localhost", PYTHONPATH=os.pathsep.join([ROOT, BENCH]))
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    access = open(os.path.join(DATA, "load-access.log"), "w")
    server = subprocess.Popen(
        [gunicorn, "-c", os.path.join(ROOT, "deploy", "gunicorn.conf.py"),
         "--workers", str(workers), "--timeout", "300", "--bind", f"127.0.0.1:{port}",
         "--access-logfile", "-", "--access-logformat", ACCESS_FORMAT,
         "app:create_app()" if plain else "load:server_app()"],
        cwd=ROOT, env=env, stdout=access, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return server, access
        except OSError:
            pass
        if server.poll() is not None:
            sys.exit(f"gunicorn exited {server.returncode}; see bench/data/load-access.log")
        time.sleep(0.2)
    stop_server(server)
    sys.exit("gunicorn did not answer /healthz within 60 s")


def stop_server(server) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- where the machine's CPU went ----------------------------------------------------------------

def cpu_seconds() -> dict:
    """CPU seconds (user + system) used so far by each process of this run's kinds — this process
    (the load generator), the gunicorn processes, the PostgreSQL server's processes — read from
    /proc (Linux), keyed (kind, pid); and the machine's total busy time as "machine". Other
    sessions' processes are in `machine` only (their PostgreSQL queries, if any, count under
    `postgres`)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict = {}
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(entry) == me:
            out[("client", entry)] = used
        elif name == "postgres":
            out[("postgres", entry)] = used
        elif "gunicorn" in name or (name.startswith("python") and _is_gunicorn(entry)):
            out[("gunicorn", entry)] = used
    with open("/proc/stat") as handle:
        cpu = [int(v) for v in handle.readline().split()[1:]]
    out["machine"] = (sum(cpu) - cpu[3] - cpu[4]) / tick  # all but idle and iowait
    return out


def _is_gunicorn(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"gunicorn" in handle.read()
    except OSError:
        return False


def cpu_line(before: dict, after: dict, requests: int, seconds: float) -> str:
    # per process: one that started during the run counts from zero; one that ended before the
    # second reading (gunicorn stops after the run, another session's PostgreSQL backend) is not
    # in it, and its share falls to "everything else" instead of making a sum negative
    spent = {"client": 0.0, "gunicorn": 0.0, "postgres": 0.0,
             "machine": after["machine"] - before["machine"]}
    for key, used in after.items():
        if key != "machine":
            spent[key[0]] += used - before.get(key, 0.0)
    parts = [f"{k} {spent[k]:.1f}s ({1000 * spent[k] / max(1, requests):.1f}ms a request)"
             for k in ("client", "gunicorn", "postgres")]
    others = spent["machine"] - spent["client"] - spent["gunicorn"] - spent["postgres"]
    return (f"cpu over {seconds:.0f}s ({2 * seconds:.0f} core-seconds on 2 cores): " + ", ".join(parts)
            + f"; everything else on the machine {others:.1f}s")


# --- the import during the day ------------------------------------------------------------------

def import_file(url: str, rows: int, seed: int) -> str:
    import database
    import models
    from kenshin import audit
    import import_results  # bench/import_results.py

    database.bind(url)
    audit.configure(AUDIT_KEY)
    path = os.path.join(DATA, f"results-{rows}-{seed}.csv")
    import_results.write_file(path, rows, seed)
    models.db.close()
    return path


def run_import(url: str, path: str, window: list) -> None:
    env = dict(os.environ, KENSHIN_DATABASE_URL=url, KENSHIN_AUDIT_KEY=AUDIT_KEY,
               KENSHIN_SECRET_KEY=SECRET)
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    started = time.perf_counter()
    done = subprocess.run([flask, "--app", "app", "import-results", path], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    ended = time.perf_counter()
    window[:] = [started, ended, done.returncode, (done.stdout.strip() or done.stderr[-500:])]


# --- checking ---------------------------------------------------------------------------------

def check(url: str, clerks: list[Clerk], head_seq: int):
    """(lost, doubled, problems, verify result): the database against what the clerks were told."""
    import models
    from app import create_app
    from kenshin import audit
    from peewee import fn

    app = create_app({"DATABASE_URL": url, "AUDIT_KEY": AUDIT_KEY, "SECRET_KEY": SECRET})
    lost = doubled = 0
    problems = []
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        ids = [c.staff_id for c in clerks]
        counts = {}
        for actor, action, n in (models.AuditEvent.select(models.AuditEvent.actor, models.AuditEvent.action,
                                                          fn.COUNT(models.AuditEvent.id))
                                 .where((models.AuditEvent.seq > head_seq) & models.AuditEvent.actor.in_(ids))
                                 .group_by(models.AuditEvent.actor, models.AuditEvent.action).tuples()):
            counts[(actor, action)] = n
        for c in clerks:
            for kind, action in AUDITED.items():
                got, want = counts.get((c.staff_id, action), 0), c.ok[kind]
                if kind in ("search", "open"):
                    continue  # below, with the refused forms' look-ups
                if got != want:
                    problems.append(f"{c.login_id}: {action} events {got}, requests {want}")
                    lost += max(0, want - got)
                    doubled += max(0, got - want)
            # A refused form (422) shows the person panel again: one search or view event.
            looked = counts.get((c.staff_id, "resident.search"), 0) + counts.get((c.staff_id, "resident.view"), 0)
            want = c.ok["search"] + c.ok["open"] + c.refused
            if looked != want or counts.get((c.staff_id, "resident.search"), 0) < c.ok["search"] \
                    or counts.get((c.staff_id, "resident.view"), 0) < c.ok["open"]:
                problems.append(f"{c.login_id}: search+view events {looked}, requests {want}")
                lost += max(0, want - looked)
                doubled += max(0, looked - want)
        saved = [(c, s) for c in clerks for s in c.saved]
        events = {}
        for object_id, n in (models.AuditEvent.select(models.AuditEvent.object_id, fn.COUNT(models.AuditEvent.id))
                             .where((models.AuditEvent.seq > head_seq) & (models.AuditEvent.object_type == "screening")
                                    & models.AuditEvent.actor.in_(ids))
                             .group_by(models.AuditEvent.object_id).tuples()):
            events[object_id] = n
        for start in range(0, len(saved), 500):
            chunk = saved[start:start + 500]
            rows = {r[0]: r for r in models.Screening.select(
                models.Screening.id, models.Screening.resident, models.Screening.exam,
                models.Screening.exam_date).where(models.Screening.id.in_([s[0] for _, s in chunk])).tuples()}
            for c, (sid, rid, exam, day) in chunk:
                row = rows.get(sid)
                if row is None or (row[1], row[2], str(row[3])) != (rid, exam, day):
                    problems.append(f"{c.login_id}: saved No.{sid} missing or different: {row}")
                    lost += 1
                    continue
                same = models.Screening.select().where(
                    (models.Screening.resident == rid) & (models.Screening.exam == exam)
                    & (models.Screening.exam_date == day)).count()
                if same != 1:
                    problems.append(f"{c.login_id}: No.{sid} is there {same} times")
                    doubled += same - 1
                if events.get(str(sid), 0) != 1:
                    problems.append(f"{c.login_id}: No.{sid} has {events.get(str(sid), 0)} audit events")
                    lost += events.get(str(sid), 0) == 0
                    doubled += max(0, events.get(str(sid), 0) - 1)
        started = time.perf_counter()
        verified = audit.verify()
        verify_s = time.perf_counter() - started
        models.db.close()
    return lost, doubled, problems, verified, verify_s


# --- figures ----------------------------------------------------------------------------------

def pct(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def server_breakdown() -> list[str]:
    rows = []
    for path in glob.glob(os.path.join(DATA, "load-timing-*.tsv")):
        with open(path) as handle:
            for line in handle:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 7:
                    rows.append((parts[1], parts[2], *map(float, parts[3:6]), int(parts[6])))
    rows = [r for r in rows if r[0] not in ("login", "other")]
    if not rows:
        return ["server timing: none (run without --plain to time the server side)"]
    out = []
    for kind in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == kind]
        wall = [r[2] for r in mine]
        dbt = [r[3] for r in mine]
        head = [r[4] for r in mine]
        out.append(f"server {kind:7s} n={len(mine):6d} wall p50={pct(wall, 50):7.1f}ms "
                   f"p95={pct(wall, 95):7.1f}ms  db mean={statistics.fmean(dbt):6.1f}ms "
                   f"p95={pct(dbt, 95):7.1f}ms  audit-head mean={statistics.fmean(head):6.1f}ms "
                   f"p95={pct(head, 95):7.1f}ms  statements={statistics.fmean([r[5] for r in mine]):.1f}")
    wall = sum(r[2] for r in rows)
    dbt = sum(r[3] for r in rows)
    head = sum(r[4] for r in rows)
    out.append(f"server time: {wall / 1000:.1f}s in {len(rows)} requests — app (Python: gate, forms, "
               f"templates) {100 * (wall - dbt) / wall:.0f}%, database {100 * (dbt - head) / wall:.0f}%, "
               f"audit head statement (its lock wait included) {100 * head / wall:.0f}%")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--screenings", type=int, default=5_000_000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (deploy/: 4)")
    parser.add_argument("--import-rows", type=int, default=0)
    parser.add_argument("--import-after", type=float, default=10.0, help="seconds into the run")
    parser.add_argument("--plain", action="store_true", help="app:create_app() without the timer")
    parser.add_argument("--seed", type=int, default=None,
                        help="default: a new one each run (a repeated run would key the same forms again)")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1_000_000)
    if args.users < 1 or args.users > 1000 or args.seconds < 1 or args.seconds > 3600:
        sys.exit("--users 1..1000, --seconds 1..3600")
    os.makedirs(DATA, exist_ok=True)
    url = args.database_url or f"sqlite:///{os.path.join(DATA, f'entry-{args.residents}.sqlite')}"
    port = free_port()
    origin = f"http://localhost:{port}"

    log(f"preparing {args.users} clerks on {url.split('@')[-1]} ...")
    staff, people, institution, head_seq = prepare(url, args.users, args.residents, args.screenings,
                                                   args.seed, origin)
    path = import_file(url, args.import_rows, args.seed) if args.import_rows else None
    log(f"seed {args.seed}")
    server, access = start_server(url, port, args.plain, args.workers)
    try:
        clerks = [Clerk(n, sid, login, auth, port, people, institution, args.seed)
                  for n, (sid, login, auth) in enumerate(staff)]
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.browser.sign_in(c.login_id, c.authenticator), clerks))
        log(f"{len(clerks)} clerks signed in (password + WebAuthn) in {time.perf_counter() - started:.1f}s; "
            f"load before: {os.getloadavg()[0]:.2f}")
        window: list = []
        importer = None
        if path:
            def later():
                time.sleep(args.import_after)
                run_import(url, path, window)
            importer = threading.Thread(target=later, daemon=True)
        begin = time.perf_counter()
        cpu_before = cpu_seconds()
        end = time.monotonic() + args.seconds
        threads = [threading.Thread(target=c.run, args=(end, 2 * args.seconds), daemon=True)
                   for c in clerks]
        for t in threads:
            t.start()
        if importer:
            importer.start()
        for t in threads:
            t.join(args.seconds + TIMEOUT + 30)
        elapsed = time.perf_counter() - begin
        cpu_after = cpu_seconds()  # before gunicorn stops: its workers' time is still readable
        load_after = os.getloadavg()
        if importer:
            importer.join()
    finally:
        stop_server(server)
        access.close()

    results = [r for c in clerks for r in c.results]
    times = [r[2] * 1000 for r in results]
    errors = sum(len(c.errors) for c in clerks)
    for kind in ("search", "open", "entry", "batch", "queue", "print"):
        mine = [r[2] * 1000 for r in results if r[0] == kind]
        if mine:
            log(f"client {kind:7s} n={len(mine):6d} p50={pct(mine, 50):7.1f}ms p95={pct(mine, 95):7.1f}ms "
                f"max={max(mine):7.1f}ms")
    slices = {}
    for kind, started_at, seconds, _status in results:
        slices.setdefault(int((started_at - begin) // 10), []).append(seconds * 1000)
    log("client by 10 s of the run (p95 ms): " + " ".join(
        f"{10 * k}s:{pct(v, 95):.0f}" for k, v in sorted(slices.items())))
    for line in server_breakdown():
        log(line)
    log(cpu_line(cpu_before, cpu_after, len(results), elapsed))
    if path:
        if window and window[2] == 0:
            during = [r[2] * 1000 for r in results if r[0] == "search" and window[0] <= r[1] <= window[1]]
            outside = [r[2] * 1000 for r in results if r[0] == "search" and not window[0] <= r[1] <= window[1]]
            log(f"import {args.import_rows} rows: {window[1] - window[0]:.1f}s ({window[3]}); searches during "
                f"it n={len(during)} p50={pct(during, 50):.1f}ms p95={pct(during, 95):.1f}ms max="
                f"{max(during) if during else float('nan'):.1f}ms; outside it p95={pct(outside, 95):.1f}ms")
        else:
            log(f"import failed or did not run: {window}")
            errors += 1
    for line in [n for c in clerks for n in c.notes][:5]:
        log(line)
    shown = [e for c in clerks for e in c.errors][:10]
    for line in shown:
        log(f"error: {line}")
    lost, doubled, problems, verified, verify_s = check(url, clerks, head_seq)
    for line in problems[:10]:
        log(f"check: {line}")
    saves = sum(len(c.saved) for c in clerks)
    log(f"checked: {saves} saves (refused {sum(c.refused for c in clerks)}), "
        f"{sum(sum(c.ok.values()) for c in clerks)} audited views; lost={lost} doubled={doubled}; "
        f"audit-verify {'ok' if verified.ok else 'FAILED: ' + verified.problem} "
        f"({verified.count} events, {verify_s:.0f}s)")
    if not verified.ok:
        errors += 1
    log(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} "
        f"(2 cores, shared); {elapsed:.0f}s of clerks' time")
    log(f"load users={args.users} rps={len(results) / elapsed:.1f} p50={pct(times, 50):.0f}ms "
        f"p95={pct(times, 95):.0f}ms errors={errors} lost={lost + doubled}")


if __name__ == "__main__":
    main()
