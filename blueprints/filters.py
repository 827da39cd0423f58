"""Jinja filters: 和暦 beside the Western year, Japan time for stored UTC timestamps."""
from datetime import timezone

from kenshin.core import dates, labels
from kenshin.screening import catalogue


def wareki(value, style="long"):
    return dates.format_wareki(value, style) if value else ""


def both(value):
    """令和7年4月1日 (2025-04-01)."""
    return dates.format_both(value) if value else ""


def jst(value, with_seconds=False):
    """A stored UTC timestamp as Japan time: 令和7年4月1日 (2025-04-01) 09:30."""
    if not value:
        return ""
    local = value.replace(tzinfo=timezone.utc).astimezone(dates.JST)
    clock = local.strftime("%H:%M:%S" if with_seconds else "%H:%M")
    return f"{dates.format_both(local.date())} {clock}"


def sex(value):
    """男 / 女 for the sex code (kenshin.core.labels)."""
    return labels.sex_label(value)


def change_kind(value):
    """訂正 / 取消 / 確認入力 / 対象者の付替 for a screening change (kenshin.core.labels)."""
    return labels.SCREENING_CHANGE_KINDS.get(value, value)


def outcome(screening):
    """A record's outcome key (catalogue REFERRAL / PENDING / CLEAR / ATTENDED), or "" while it
    is pending (未確定: no result until verified) or void. Reads the stored flags."""
    if getattr(screening, "status", "confirmed") != "confirmed":
        return ""
    return catalogue.outcome_of(screening.exam, bool(screening.referral), bool(getattr(screening, "pending", False)))


def init_app(app):
    app.add_template_filter(sex)
    app.add_template_filter(change_kind)
    app.add_template_filter(outcome)
    app.jinja_env.globals.update(outcome_of=catalogue.outcome_of, outcome_labels=catalogue.OUTCOME_LABELS,
                                 outcome_explained=catalogue.OUTCOME_EXPLAINED)
    app.add_template_filter(wareki)
    app.add_template_filter(both)
    app.add_template_filter(jst)
    # the 出力日時 of printed pages that do not pass their own `printed_at`
    app.jinja_env.globals.update(print_now=dates.now_utc)
