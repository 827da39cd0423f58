"""Finding a person from a paper form, and the person page (clerks and supervisors).

Search criteria travel only in POST bodies (never in a URL or an access log); the person page
is addressed by the internal row id, which is not personal data."""
from flask import Blueprint, g, request
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice

from kenshin.access.roles import PERSONAL_DATA_ROLES
from kenshin.core import labels
from kenshin.provision import content, queries
from kenshin.registry import person_page, residents
from kenshin.requests import disclosure
from kenshin.core.dates import now_utc
from kenshin.core.errors import Invalid

from .web import actor, is_htmx, menu, redirect_to, render, requires

bp = Blueprint("residents", __name__, url_prefix="/residents")



class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect checks every POST already; the template carries the token

    kana = StringField("カナ（前から）")
    name = StringField("氏名（前から）")
    birth_date = StringField("生年月日")
    sex = SelectField("性別", choices=[SelectChoice("", "指定なし")] + [
        SelectChoice(code, label) for code, label in labels.SEXES.items()], default="")
    atena_no = StringField("宛名番号")
    seiri_no = StringField("整理番号")


def _session_id():
    return g.user_session.id if g.get("user_session") is not None else None


@bp.get("/")
@requires(*PERSONAL_DATA_ROLES)
@menu("住民検索", 10)
def index():
    """住民検索: the form, with this session's last search shown again (coming back from a
    person page keeps it; the criteria stay on the server). Showing it again is audited."""
    typed = residents.last_search(_session_id())
    outcome = None
    if typed:
        try:
            outcome = residents.search(residents.parse_criteria(typed), actor(), again=True)
        except Invalid:
            typed, outcome = None, None
    return render("residents/search.html", form=SearchForm(formdata=None, data=typed or {}),
                  outcome=outcome, errors={}, labels=residents.LABELS, kept=bool(outcome))


@bp.post("/clear")
@requires(*PERSONAL_DATA_ROLES)
def clear():
    """「条件を消す」: forget the session's last search and show the empty form."""
    residents.forget(_session_id())
    return redirect_to("residents.index")


@bp.post("/search")
@requires(*PERSONAL_DATA_ROLES)
def search():
    """Search (htmx as the clerk types, or a plain form post); each search is audited and kept
    as the session's last search."""
    form = None if is_htmx() else SearchForm()  # the fragment shows no form
    outcome, errors = None, {}
    try:
        outcome = residents.search(residents.parse_criteria(request.form), actor(),
                                   session_id=_session_id())
    except Invalid as exc:
        errors = exc.errors
        for name, messages in errors.items():
            if form is not None and name in form:
                form[name].errors = list(messages)
    return render("residents/search.html", "residents/_results.html", form=form, outcome=outcome,
                  errors=errors, labels=residents.LABELS)


def _record(load, resident_id: int):
    return load(resident_id, actor())


@bp.get("/<int:resident_id>")
@requires(*PERSONAL_DATA_ROLES)
def person(resident_id: int):
    """The person page: the 5 items, registry dates, screenings, change history, and the
    person's inquiries, requests, invitations and provision records as the roles allow (audited)."""
    page = person_page.open_page(resident_id, actor(), person_page.sections_for(g.staff.role_set))
    return render("residents/person.html", record=page.record, around=page,
                  request_kinds=disclosure.KINDS, urgency=disclosure.urgency,
                  provision_labels=queries.STATUS_LABELS, provision_items=content.ITEM_LABELS)


@bp.post("/<int:resident_id>/print")
@requires(*PERSONAL_DATA_ROLES)
def print_view(resident_id: int):
    """The A4 print of the person page (audited as a print)."""
    return render("residents/print.html", record=_record(residents.print_record, resident_id),
                  printed_at=now_utc())
