"""Long-logon review (assessment III.6): sessions that stayed signed on longer than a threshold,
grouped by division; a notice per division asking for the purpose of use; the answers.

One sign-on can span several session rows (an unlock issues a new session id but keeps the
start), so rows of one staff member with the same start are one logon. A session's end is the
earliest of: its recorded end, the last activity plus the automatic logoff, the absolute limit,
and now — an idle session ended lazily on the next request still counts only to its logoff.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from peewee import fn

from models import LongLogonNotice, Staff, UserSession, db

from kenshin import audit
from kenshin.audit.log import Period
from kenshin.core.dates import now_utc, today_jst
from kenshin.core.errors import Invalid, NotFound, Refused

DEFAULT_HOURS = 8
REPLY_DAYS = 14
ANSWER_MAX = 1000
END_REASONS = {"logout": "ログアウト", "idle": "無操作による自動ログオフ",
               "absolute": "利用時間の上限", "admin": "管理者による終了", "retired": "退職",
               "replaced": "再ログイン"}


@dataclass
class LongSession:
    session_id: str
    staff_id: int
    login_id: str
    name: str
    division: str
    start: datetime
    last_activity: datetime
    ended_at: datetime | None
    end_reason: str
    end: datetime
    notice_id: int | None = None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def end_reason_label(self) -> str:
        if self.ended_at is None:
            return "継続中（未終了）"
        return END_REASONS.get(self.end_reason, self.end_reason)


def hours_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}時間{minutes % 60:02d}分"


def parse_hours(text: str | None) -> float:
    try:
        hours = float((text or "").strip() or DEFAULT_HOURS)
    except ValueError:
        raise Invalid({"hours": ["時間は数字で入力してください"]}) from None
    if not 0.5 <= hours <= 24:
        raise Invalid({"hours": ["時間は0.5〜24の範囲で入力してください"]})
    return hours


def long_sessions(period: Period, hours: float, logoff_after: int, max_age: int,
                  now: datetime | None = None, division: str | None = None) -> list[LongSession]:
    """Logons that began in the period and lasted longer than `hours`, by division and start."""
    now = now or now_utc()
    begin, end = period.utc_bounds()
    query = (UserSession
             .select(UserSession.id, UserSession.created_at, UserSession.last_seen_at,
                     UserSession.ended_at, UserSession.end_reason, Staff.id, Staff.login_id,
                     Staff.name, Staff.division)
             .join(Staff)
             .where((UserSession.created_at >= begin) & (UserSession.created_at < end)))
    if division is not None:
        query = query.where(Staff.division == division)
    groups: dict[tuple[int, datetime], list[LongSession]] = {}
    for sid, created, seen, ended, reason, staff_id, login_id, name, div in query.tuples():
        stop = min(t for t in (ended, seen + timedelta(seconds=logoff_after),
                               created + timedelta(seconds=max_age), now) if t is not None)
        groups.setdefault((staff_id, created), []).append(
            LongSession(sid, staff_id, login_id, name, div, created, seen, ended, reason or "",
                        max(stop, created)))
    logons = []
    for rows in groups.values():
        # The logon's latest row (after unlocks) speaks for it; it lasted until its last end.
        latest = max(rows, key=lambda r: (r.last_activity, r.ended_at is None))
        latest.end = max(r.end for r in rows)
        logons.append(latest)
    threshold = timedelta(hours=hours)
    found = [s for s in logons if s.duration > threshold]
    if found:
        notices = {}
        for notice_id, session_id in (LongLogonNotice
                                      .select(LongLogonNotice.id, LongLogonNotice.session)
                                      .where(LongLogonNotice.session.in_([s.session_id for s in found]))
                                      .tuples()):
            notices[session_id] = notice_id
        for s in found:
            s.notice_id = notices.get(s.session_id)
    return sorted(found, key=lambda s: (s.division, s.start, s.login_id))


def by_division(sessions: list[LongSession]) -> dict[str, list[LongSession]]:
    grouped: dict[str, list[LongSession]] = {}
    for s in sessions:
        grouped.setdefault(s.division, []).append(s)
    return grouped


def review(period: Period, hours: float, logoff_after: int, max_age: int,
           actor: audit.Actor) -> dict[str, list[LongSession]]:
    """The review screen's list, grouped by division; the review itself is recorded."""
    with db.atomic():
        sessions = long_sessions(period, hours, logoff_after, max_age)
        audit.record("logon_review.view", actor,
                     details=dict(period.details(), hours=hours, count=len(sessions)))
    return by_division(sessions)


def parse_reply_by(text: str | None) -> date:
    from kenshin.core.dates import DateError, parse_date

    if not (text or "").strip():
        return today_jst() + timedelta(days=REPLY_DAYS)
    try:
        reply_by = parse_date(text.strip())
    except DateError as exc:
        raise Invalid({"reply_by": [f"回答期限: {exc}"]}) from None
    if reply_by < today_jst():
        raise Invalid({"reply_by": ["回答期限は今日以降にしてください"]})
    return reply_by


def create_notice(division: str, period: Period, hours: float, reply_by: date,
                  logoff_after: int, max_age: int, actor: audit.Actor) -> list[LongLogonNotice]:
    """One notice to a division: a row per long session not notified before; recorded."""
    if actor.staff_id is None:
        raise Refused("通知は職員として作成してください。")
    with db.atomic():
        sessions = [s for s in long_sessions(period, hours, logoff_after, max_age,
                                             division=division) if s.notice_id is None]
        if not sessions:
            raise Refused("この所属に、まだ通知していない長時間ログオンはありません。")
        now = now_utc()
        notices = [LongLogonNotice.create(
            session=s.session_id, division=division, period_from=period.start,
            period_to=period.end, notified_by=actor.staff_id, notified_at=now,
            reply_by=reply_by) for s in sessions]
        audit.record("logon_review.notice", actor, object_type="long_logon_notice",
                     object_id=notices[0].id,
                     details=dict(period.details(), division=division, hours=hours,
                                  sessions=len(notices), reply_by=reply_by.isoformat(),
                                  staff=sorted({s.login_id for s in sessions})))
    return notices


@dataclass
class NoticeLine:
    notice: LongLogonNotice
    session: LongSession


def _line(notice: LongLogonNotice, logoff_after: int, max_age: int) -> NoticeLine:
    row = notice.session
    staff = row.staff
    stop = min(t for t in (row.ended_at, row.last_seen_at + timedelta(seconds=logoff_after),
                           row.created_at + timedelta(seconds=max_age), notice.notified_at)
               if t is not None)
    return NoticeLine(notice, LongSession(row.id, staff.id, staff.login_id, staff.name,
                                          staff.division, row.created_at, row.last_seen_at,
                                          row.ended_at, row.end_reason or "",
                                          max(stop, row.created_at), notice.id))


def _notices_query():
    return (LongLogonNotice.select(LongLogonNotice, UserSession, Staff)
            .join(UserSession).join(Staff).switch(LongLogonNotice))


def notice_batch(notice_id: int, logoff_after: int, max_age: int, actor: audit.Actor,
                 record_print: bool = True) -> list[NoticeLine]:
    """The notice a row belongs to (same division, same moment), for printing; recorded."""
    first = LongLogonNotice.get_or_none(LongLogonNotice.id == notice_id)
    if first is None:
        raise NotFound("notice")
    with db.atomic():
        rows = list(_notices_query()
                    .where((LongLogonNotice.division == first.division)
                           & (LongLogonNotice.notified_at == first.notified_at))
                    .order_by(UserSession.created_at, Staff.login_id))
        if record_print:
            audit.record("audit.print", actor, object_type="long_logon_notice",
                         object_id=first.id, details={"report": "long_logon_notice",
                                                      "division": first.division,
                                                      "count": len(rows)})
    return [_line(n, logoff_after, max_age) for n in rows]


def open_notices(logoff_after: int, max_age: int) -> list[NoticeLine]:
    """Notices still waiting for their answer, oldest first."""
    rows = (_notices_query().where(LongLogonNotice.closed_at.is_null())
            .order_by(LongLogonNotice.notified_at, LongLogonNotice.division, UserSession.created_at))
    return [_line(n, logoff_after, max_age) for n in rows]


def closed_notices(limit: int = 50) -> list[LongLogonNotice]:
    closer = Staff.alias()
    return list(LongLogonNotice.select(LongLogonNotice, UserSession, Staff, closer)
                .join(UserSession).join(Staff).switch(LongLogonNotice)
                .join(closer, on=(LongLogonNotice.closed_by == closer.id), attr="closer")
                .where(LongLogonNotice.closed_at.is_null(False))
                .order_by(LongLogonNotice.closed_at.desc()).limit(limit))


def record_answer(notice_id: int, answer: str, actor: audit.Actor) -> LongLogonNotice:
    """Record the purpose the division reported, and close the notice: who and when."""
    answer = (answer or "").strip()
    if not answer:
        raise Invalid({"answer": ["報告された利用目的を入力してください"]})
    if len(answer) > ANSWER_MAX:
        raise Invalid({"answer": [f"{ANSWER_MAX}文字以内で入力してください"]})
    if actor.staff_id is None:
        raise Refused("回答は職員として記録してください。")
    with db.atomic():
        notice = LongLogonNotice.get_or_none(LongLogonNotice.id == notice_id)
        if notice is None:
            raise NotFound("notice")
        now = now_utc()
        changed = (LongLogonNotice
                   .update(answer=answer, answered_at=now, closed_by=actor.staff_id, closed_at=now)
                   .where((LongLogonNotice.id == notice_id) & LongLogonNotice.closed_at.is_null())
                   .execute())
        if not changed:
            raise Refused("この通知は既に回答が記録され、完了しています。")
        audit.record("logon_review.answer", actor, object_type="long_logon_notice",
                     object_id=notice_id, details={"division": notice.division,
                                                   "staff": notice.session.staff.login_id})
    return LongLogonNotice.get_by_id(notice_id)


def open_count() -> int:
    return LongLogonNotice.select(fn.COUNT(LongLogonNotice.id)).where(
        LongLogonNotice.closed_at.is_null()).scalar() or 0
