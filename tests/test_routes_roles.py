"""Every registered route × every role: declared, enforced, and nothing reachable signed out."""
import pytest

import models

from blueprints.web import ANY_STAFF, MACHINE, PUBLIC
from kenshin.access import sessions
from kenshin.access.roles import ROLES

from .conftest import login, page_csrf

# Endpoints that are fine to call with made-up arguments in this walk.
SAMPLE_ARGS = {"integer": 1, "boundedint": 1, "default": "x", "unicode": "x", "string": "x", "path": "x"}


def _rules(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        yield rule, view


def _url(rule):
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__.lower().replace("converter", "")
        values[arg] = SAMPLE_ARGS.get(converter, "x")
    return rule.build(values, append_unknown=False)[1]


def test_every_route_declares_its_roles(app):
    undeclared = [rule.rule for rule, view in _rules(app) if getattr(view, "roles", None) is None]
    assert not undeclared, f"routes without a role declaration: {undeclared}"


def test_declared_roles_are_known(app):
    known = set(ROLES) | {ANY_STAFF, PUBLIC, MACHINE}
    for rule, view in _rules(app):
        assert set(view.roles) <= known, rule.rule


def test_signed_out_visitor_reaches_only_public_routes(app, client):
    for rule, view in _rules(app):
        if PUBLIC in view.roles:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule), method=method)
            if MACHINE in view.roles:
                # Another system's route: provision is off here (no token configured: 404), and a
                # browser that carries this app's cookie from the redirects above is refused (403).
                assert response.status_code in (403, 404), (method, rule.rule, response.status_code)
                continue
            # A POST without a session is stopped by CSRF (400) or the gate (303): never served.
            assert response.status_code in (303, 400), (method, rule.rule, response.status_code)
            if response.status_code == 303:
                assert response.headers["Location"].endswith("/login")


def _denials():
    return models.AuditEvent.select().where(models.AuditEvent.action == "access.denied").count()


def _signed_in(client, person, token):
    """Sign in again if the last request locked or ended the session (GET /lock does)."""
    with client.session_transaction() as flask_session:
        user_session = sessions.get(flask_session.get("sid"))
    if user_session is not None and sessions.evaluate(user_session, sessions.Policy()).status == "ok":
        return token
    assert login(client, person).get_json()["ok"]
    return page_csrf(client)


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_is_admitted_or_refused_as_declared(app, client, db, make_staff, role):
    """Admitted: never the gate's refusal (an `access.denied` event). Refused: 403 and that event.

    A refusal by the view itself (a failed WebAuthn check answers 403 too) is not the gate's."""
    person = make_staff(role)
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client)
    for rule, view in _rules(app):
        if PUBLIC in view.roles or rule.endpoint in ("auth.logout", "auth.lock_now"):
            continue
        admitted = ANY_STAFF in view.roles or role in view.roles
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            token = _signed_in(client, person, token)
            if MACHINE in view.roles:
                # Never reachable from a staff browser session, whatever the role.
                response = client.open(_url(rule), method=method, headers={"X-CSRFToken": token})
                assert response.status_code == 403, (role, method, rule.rule, response.status_code)
                assert response.get_json()["reason"] == "staff_session"
                continue
            before = _denials()
            response = client.open(_url(rule), method=method, headers={"X-CSRFToken": token})
            denied = _denials() - before
            if admitted:
                assert not denied, (role, method, rule.rule)
                assert response.status_code != 500, (role, method, rule.rule)
            else:
                assert response.status_code == 403 and denied == 1, \
                    (role, method, rule.rule, response.status_code)


# What the maintainer (委託先・運用保守, SECURITY.md) may reach: the sign-in plumbing, the menu,
# their own keys, imports as a job and the operations screens — no person, record, log detail
# or export.
MAINTAINER_MAY_REACH = ("auth.", "home.", "account.", "imports.", "operations.")


def test_maintainer_reaches_no_person_record_log_or_export(app, client, db, make_staff):
    from .factories import make_resident, make_screening

    reachable = sorted({rule.endpoint for rule, view in _rules(app)
                        if PUBLIC not in view.roles
                        and ("maintainer" in view.roles or ANY_STAFF in view.roles)})
    assert [e for e in reachable if not e.startswith(MAINTAINER_MAY_REACH)] == []

    person = make_resident("987654321098", name="霧島　保子", kana="キリシマ　ヤスコ", sex=2)
    screening = make_screening(person)
    maintainer = make_staff("maintainer")
    assert login(client, maintainer).get_json()["ok"]
    token = page_csrf(client)
    secrets = ("霧島", "キリシマ", "987654321098")
    for rule, view in _rules(app):
        if "GET" not in rule.methods or rule.endpoint in ("auth.lock", "static"):
            continue
        for record_id in (person.id, screening.id):
            values = {arg: record_id if "int" in type(rule._converters[arg]).__name__.lower()
                      else "987654321098" for arg in rule.arguments}
            url = rule.build(values, append_unknown=False)[1]
            token = _signed_in(client, maintainer, token)
            response = client.get(url)
            text = response.get_data(as_text=True)
            assert not any(s in text for s in secrets), (rule.rule, response.status_code)
            if rule.endpoint not in reachable and PUBLIC not in view.roles:
                assert response.status_code in (403, 404), (rule.rule, response.status_code)


def test_every_route_taking_a_resident_id_answers_404_for_someone_outside_the_programme(
        app, client, db, make_staff):
    """A 19-year-old with no counted screening: every route with a resident id in its URL answers
    404 to anyone (issue 12, finding 1), as if nobody had that id."""
    from datetime import timedelta

    from kenshin.core.dates import today_jst
    from kenshin.registry.residents import programme_birth_cutoff

    from .factories import make_resident, make_screening

    young = make_resident("600019", birth=programme_birth_cutoff(today_jst()) + timedelta(days=1))
    make_screening(young, status="pending")  # one clerk's keying does not bring them in
    person = make_staff(*ROLES)
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client)
    walked = []
    for rule, view in _rules(app):
        if "resident_id" not in rule.arguments:
            continue
        url = rule.build({arg: young.id if arg == "resident_id" else 1 for arg in rule.arguments},
                         append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, headers={"X-CSRFToken": token})
            assert response.status_code == 404, (method, rule.rule, response.status_code)
            assert young.name not in response.get_data(as_text=True)
            walked.append(rule.endpoint)
    assert {"residents.person", "screenings.person", "screenings.summary"} <= set(walked)


# Routes that take a person's internal id in the POST body (never in the URL: issue 20's
# 「問合せを受け付ける」/「請求を受け付ける」 from the person page). Same rule as above.
RESIDENT_ID_IN_BODY = ("inquiries.new_for_person", "disclosures.new_for_person")


def test_every_route_taking_a_resident_id_in_its_body_answers_404_outside_the_programme(
        app, client, db, make_staff):
    from datetime import timedelta

    from kenshin.core.dates import today_jst
    from kenshin.registry.residents import programme_birth_cutoff

    from .factories import make_resident

    young = make_resident("600019", birth=programme_birth_cutoff(today_jst()) + timedelta(days=1))
    adult = make_resident("600020", name="成人 一郎", kana="セイジン イチロウ", sex=1)
    person = make_staff(*ROLES)
    assert login(client, person).get_json()["ok"]
    token = page_csrf(client)
    rules = {rule.endpoint: rule for rule, _ in _rules(app)}
    for endpoint in RESIDENT_ID_IN_BODY:
        url = rules[endpoint].build({}, append_unknown=False)[1]
        refused = client.post(url, data={"resident_id": young.id}, headers={"X-CSRFToken": token})
        assert refused.status_code == 404 and young.name not in refused.get_data(as_text=True)
        filled = client.post(url, data={"resident_id": adult.id}, headers={"X-CSRFToken": token})
        assert filled.status_code == 200 and adult.name in filled.get_data(as_text=True)
