"""Small helpers the inquiry and request screens share (not a blueprint: no routes here)."""
from datetime import datetime

from flask import Response, current_app, url_for
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from kenshin.core.dates import JST


def pick(label: str, pairs) -> SelectField:
    """A select with a blank first choice; the domain decides what is valid."""
    return SelectField(label, choices=[SelectChoice("", "選んでください")]
                       + [SelectChoice(value, text) for value, text in pairs], validate_choice=False)


def show_errors(form, errors: dict) -> dict:
    """Put the domain's messages on the form's fields; return the ones that belong to none."""
    rest = {}
    for key, messages in errors.items():
        field = form._fields.get(key)
        if field is not None and key != "csrf_token":
            field.errors = list(field.errors or []) + list(messages)
        else:
            rest[key] = messages
    return rest


def messages(errors: dict) -> str:
    return "、".join(m for ms in errors.values() for m in ms)


def resident_url():
    """A function giving the person page of the residents screen, when that screen is installed."""
    for rule in current_app.url_map.iter_rules():
        if (rule.endpoint.startswith("residents.") and rule.rule.startswith("/residents/<int:")
                and rule.rule.endswith(">") and rule.rule.count("<") == 1 and "GET" in rule.methods):
            arg = next(iter(rule.arguments))
            return lambda resident_id, e=rule.endpoint, a=arg: url_for(e, **{a: resident_id})
    return None


def csv_download(body: bytes, count: int, stem: str) -> Response:
    """A CSV file as an attachment named with the Japan-time minute it was made."""
    name = f"{stem}-{datetime.now(JST):%Y%m%d-%H%M}.csv"
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Export-Count": str(count)})
