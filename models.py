"""Peewee models for the whole 検診情報ファイル and the database proxy they are bound through.

Binding, schema creation, triggers and bulk writers live beside this module, in database.py.

Nothing here imports the web layer or the domain package: data flows one way (DESIGN.md).
No column anywhere holds the 個人番号; the registry's internal 宛名番号 is the key.
"""
import json

from peewee import (
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    NodeList,
    SQL,
    SmallIntegerField,
    SqliteDatabase,
    TextField,
)

db = DatabaseProxy()



class JSONField(TextField):
    """JSON stored as text, so the same column works on SQLite and PostgreSQL."""

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def python_value(self, value):
        if value is None:
            return None
        return json.loads(value)


class NeverReusedIdField(AutoField):
    """An id that is never handed out again after its row is deleted (purge, kenshin.operations).

    PostgreSQL sequences never reuse a number; SQLite reuses the largest rowid once that row is
    gone unless the key is AUTOINCREMENT. The audit log keeps naming a purged person by id, so a
    new person must never receive it."""

    def ddl(self, ctx):
        node = super().ddl(ctx)
        if isinstance(db.obj, SqliteDatabase):
            return NodeList((node, SQL("AUTOINCREMENT")))
        return node


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class SchemaMigration(BaseModel):
    """One row per numbered schema step applied to this database (database.STEPS)."""

    version = IntegerField(primary_key=True)
    name = CharField(max_length=200)
    applied_at = DateTimeField()


# --- staff, credentials, sessions -------------------------------------------------------------

class Staff(BaseModel):
    """A person who signs in. Never deleted: a retired person (元職員) keeps their history."""

    login_id = CharField(max_length=64, unique=True)
    name = CharField(max_length=60)
    division = CharField(max_length=60)
    roles = CharField(max_length=200, default="")  # comma-separated, see kenshin.access.ROLES
    password_hash = CharField(max_length=255, null=True)
    status = CharField(max_length=16, default="active")  # active | retired
    failed_logins = IntegerField(default=0)
    locked_until = DateTimeField(null=True)
    enroll_token_hash = CharField(max_length=64, null=True, index=True)
    enroll_expires_at = DateTimeField(null=True)
    created_at = DateTimeField()
    last_login_at = DateTimeField(null=True)
    retired_at = DateTimeField(null=True)

    @property
    def role_set(self) -> set[str]:
        return {r for r in self.roles.split(",") if r}

    def has_any_role(self, *roles: str) -> bool:
        return bool(self.role_set.intersection(roles))

    @property
    def is_retired(self) -> bool:
        return self.status == "retired"

    # The flask-login user protocol (the session itself lives in UserSession).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return not self.is_retired

    def get_id(self) -> str:
        return str(self.id)


class Credential(BaseModel):
    """A WebAuthn authenticator registered by one staff member."""

    staff = ForeignKeyField(Staff, backref="credentials", on_delete="RESTRICT")
    credential_id = CharField(max_length=1400, unique=True)  # base64url
    public_key = BlobField()
    sign_count = BigIntegerField(default=0)
    transports = CharField(max_length=200, default="")
    aaguid = CharField(max_length=64, default="")
    nickname = CharField(max_length=60)
    created_at = DateTimeField()
    last_used_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)
    revoked_reason = CharField(max_length=200, null=True)


class UserSession(BaseModel):
    """A server-side session: the cookie only carries a token whose hash is the id."""

    id = CharField(max_length=64, primary_key=True)  # sha256 hex of the cookie token
    staff = ForeignKeyField(Staff, backref="sessions", on_delete="RESTRICT")
    created_at = DateTimeField()
    last_seen_at = DateTimeField()
    locked_at = DateTimeField(null=True)
    ended_at = DateTimeField(null=True)
    end_reason = CharField(max_length=32, null=True)  # logout | idle | absolute | admin | retired | replaced
    terminal = CharField(max_length=64, default="")
    user_agent = CharField(max_length=200, default="")

    class Meta:
        indexes = ((("staff", "ended_at"), False), (("ended_at", "created_at"), False))


class LastSearch(BaseModel):
    """The resident search a session ran last, as typed (issue 20): coming back from a person page
    shows it again. Kept on the server — never in a URL, a cookie or the browser's storage — for
    the open session only: moved to the new id at unlock, deleted when the session ends."""

    session = ForeignKeyField(UserSession, unique=True, on_delete="CASCADE", backref="+")
    criteria = JSONField()
    at = DateTimeField()


class SessionDraft(BaseModel):
    """What was typed in a page's forms when the screen lock came (issue 14): kept on the server
    for that session only — never in the browser's storage — and put back in place after the
    unlock. Passwords are never kept. Moved to the new session id on unlock; deleted once
    restored, and when the session ends (logoff, idle, absolute, admin)."""

    session = ForeignKeyField(UserSession, unique=True, on_delete="CASCADE", backref="+")
    path = CharField(max_length=500)  # the page (path and query) the fields belong to
    fields = JSONField()  # [{form, index, name, value | checked | values}], plus the focused field
    saved_at = DateTimeField()


class PendingChallenge(BaseModel):
    """A WebAuthn challenge issued once and consumed once (replays fail)."""

    id = CharField(max_length=64, primary_key=True)  # sha256 hex of the challenge
    purpose = CharField(max_length=16)  # register | login | unlock
    staff = ForeignKeyField(Staff, null=True, on_delete="CASCADE")
    session = CharField(max_length=64, null=True)
    created_at = DateTimeField(index=True)


# --- registry --------------------------------------------------------------------------------

class ImportBatch(BaseModel):
    """One accepted import of a file; history rows point at it ("which import")."""

    kind = CharField(max_length=24)  # residents | institutions | results
    file_name = CharField(max_length=255)
    sha256 = CharField(max_length=64, index=True)
    actor = CharField(max_length=64)
    at = DateTimeField()
    counts = JSONField(default=dict)


class ImportRecord(BaseModel):
    """One import attempt, accepted or rejected, for the import history screen (取込の履歴).
    Written in the transaction of the import itself (or of the rejection); never changed."""

    kind = CharField(max_length=24)  # residents | institutions | results | fhir
    file_name = CharField(max_length=255)
    sha256 = CharField(max_length=64, null=True)
    encoding = CharField(max_length=16, default="")
    encoding_detected = BooleanField(default=False)
    staff = ForeignKeyField(Staff, null=True, on_delete="RESTRICT")
    actor = CharField(max_length=64)  # the staff login or os:USER (the command line)
    at = DateTimeField()
    outcome = CharField(max_length=16)  # accepted | rejected
    counts = JSONField(default=dict)
    problems = IntegerField(default=0)
    reason = CharField(max_length=255, default="")  # why a file could not be read at all
    batch = ForeignKeyField(ImportBatch, null=True, on_delete="RESTRICT")

    class Meta:
        indexes = ((("kind", "at"), False), (("at",), False))


class Resident(BaseModel):
    """A person in the registry extract: the 5 items, 住民となった日 and 消除日."""

    id = NeverReusedIdField()
    atena_no = CharField(max_length=15, unique=True)
    name = CharField(max_length=60)
    name_kana = CharField(max_length=60)
    kana_key = CharField(max_length=60)
    name_key = CharField(max_length=60)
    sex = SmallIntegerField()  # 1 男, 2 女
    birth_date = DateField()
    postal_code = CharField(max_length=8, null=True)
    address = CharField(max_length=200)
    resident_since = DateField(null=True)
    removed_on = DateField(null=True)
    removal_reason = CharField(max_length=8, null=True)
    # 利用停止 (個人情報保護法 第98条) granted on a request: kept, but no longer used (see kenshin.disclosure).
    use_suspended = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])
    updated_at = DateTimeField()
    # 団体内統合宛名番号: how the intermediate server (中間サーバー) names the person; never the 個人番号.
    togo_atena_no = CharField(max_length=15, null=True, unique=True)

    class Meta:
        indexes = (
            (("kana_key", "birth_date"), False),
            (("birth_date", "sex", "kana_key"), False),
            (("name_key", "sex"), False),  # 氏名 + 性別 searches filter sex in the index
        )


class ResidentChange(BaseModel):
    """One changed registry item: before, after, and the import or staff member that changed it."""

    resident = ForeignKeyField(Resident, backref="changes", on_delete="RESTRICT")
    item = CharField(max_length=32)
    before = TextField(null=True)
    after = TextField(null=True)
    batch = ForeignKeyField(ImportBatch, null=True, on_delete="RESTRICT")
    staff = ForeignKeyField(Staff, null=True, on_delete="RESTRICT")
    at = DateTimeField()

    class Meta:
        indexes = ((("resident", "at"), False),)


class UncheckedForeignKey(ForeignKeyField):
    """A reference peewee knows (joins, backrefs, the purge's dependents) that the database does
    not check: no FOREIGN KEY constraint is created. For a table a run writes by the hundred
    thousand from ids it read in the same transaction: PostgreSQL checks a foreign key row by row
    with a lock on the parent row (see Invitation). Residents are deleted only by the purge, which
    deletes these rows first (kenshin.operations.retention follows peewee's references)."""

    def __init__(self, model, **kwargs):
        super().__init__(model, _deferred=True, **kwargs)


class SeiriNumber(BaseModel):
    """整理番号 issued on an invitation: one per person per 年度, never reused. An invitation run
    issues one to each person it invites, in one statement (0.7 million at a city's size): the
    person is an unchecked reference with no index but the unique (resident, fiscal_year) one
    (schema step 18)."""

    number = CharField(max_length=20, unique=True)
    # no index of its own: (resident, fiscal_year) below serves every look-up by person
    resident = UncheckedForeignKey(Resident, backref="seiri_numbers", index=False)
    fiscal_year = IntegerField()
    issued_at = DateTimeField()

    class Meta:
        indexes = ((("resident", "fiscal_year"), True),)


class SeiriCounter(BaseModel):
    """One row: the last 整理番号 serial issued. Issuing updates it first, which serialises runs
    (a row lock on PostgreSQL, the write lock on SQLite), so no serial is ever handed out twice."""

    last_serial = BigIntegerField()


# --- screening rules and invitations ----------------------------------------------------------

class ScreeningRuleSet(BaseModel):
    """One version of a 年度's screening rules (対象者の条件). The newest version is in force;
    earlier versions are kept, and every invitation run names the version it used."""

    fiscal_year = IntegerField()
    version = IntegerField()
    reason = CharField(max_length=400)
    created_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    created_label = CharField(max_length=64)
    created_at = DateTimeField()

    class Meta:
        indexes = ((("fiscal_year", "version"), True),)


class ScreeningRule(BaseModel):
    """Who is targeted for one exam in one version of the rules (FORMATS.md "Screening rules")."""

    rule_set = ForeignKeyField(ScreeningRuleSet, backref="rules", on_delete="RESTRICT")
    exam = CharField(max_length=24)
    sex = SmallIntegerField()  # 0 any, 1 men, 2 women
    min_age = SmallIntegerField(null=True)
    max_age = SmallIntegerField(null=True)
    ages = CharField(max_length=100, default="")  # listed ages "40,45,50" instead of a range
    interval = SmallIntegerField(null=True)  # N 年度; 0 once in life; NULL no window (—)
    interval_group = CharField(max_length=24)
    age_basis = CharField(max_length=20)  # fiscal_year_end | fiscal_year_start
    on_request_above = BooleanField(default=False)  # older never-tested people on request, not invited

    class Meta:
        indexes = ((("rule_set", "exam"), True),)


class InvitationRun(BaseModel):
    """One extraction (initial, top-up) or 再勧奨 run for a 年度, as the registry stood on `as_of`."""

    fiscal_year = IntegerField()
    kind = CharField(max_length=12)  # initial | topup | reminder
    as_of = DateField()
    rule_set = ForeignKeyField(ScreeningRuleSet, on_delete="RESTRICT", backref="+")
    screened_by = DateField(null=True)  # reminder: invited people not screened by this date
    created_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    created_label = CharField(max_length=64)
    created_at = DateTimeField()
    counts = JSONField(default=dict)
    # the registry the run read (LESSONS.md 1): the newest resident import when it ran
    registry_batch_id = IntegerField(null=True)
    registry_at = DateTimeField(null=True)
    # 承認: a second supervisor, who saw the rules and the counts, signed the run off before
    # anything of it is printed or exported (never the person who ran it)
    signed_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    signed_label = CharField(max_length=64, null=True)
    signed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("fiscal_year", "created_at"), False),)


# The exams of an invitation row as bits of one integer (Invitation.exams): fixed for good, since
# rows keep them — a new exam takes the next bit, none is ever renumbered (docs/INVITATIONS.md).
INVITATION_EXAM_BITS = {
    "gastric_xray": 1, "gastric_endoscopy": 2, "colorectal": 4, "lung": 8, "breast": 16,
    "cervical": 32, "osteoporosis": 64, "periodontal": 128, "hepatitis": 256,
}


class Invitation(BaseModel):
    """One person of a run, with the run's exams for them as a set: `exams`, the sum of their
    INVITATION_EXAM_BITS. kind `invite` is the 年度's invitation (a person is invited at most once
    per exam in a 年度: a top-up leaves out the exams of the person's earlier invite rows, and
    runs are serialised by the 整理番号 counter's lock — so the exams of one person's invite rows
    in a 年度 never overlap); `remind` is a 再勧奨. Stopped (送付停止) by a later run when the
    person left the registry.

    One row per person × run, not per person × exam (schema step 19): a run at a city's size
    writes 0.7 million rows instead of 2.8 million. It writes them in one set statement, from
    ids it reads in the same transaction; `run_id` and `resident_id` are therefore plain indexed
    integers, not foreign keys: PostgreSQL checks a foreign key row by row (with a row lock on the
    parent), which was 15 of 23 seconds of a 100,000-resident run. Runs and residents are never
    deleted (the purge deletes a person's rows first)."""

    run_id = IntegerField()
    resident_id = IntegerField()
    fiscal_year = IntegerField()
    exams = IntegerField()  # the sum of INVITATION_EXAM_BITS of the row's exams
    kind = CharField(max_length=8, default="invite")  # invite | remind
    # the person's 整理番号 is the SeiriNumber of (resident, fiscal_year): not repeated per row
    # unchecked too (step 19): PostgreSQL fired its check for every row a run writes, NULL or not
    stopped_run = UncheckedForeignKey(InvitationRun, null=True, index=False, backref="+")
    stopped_on = DateField(null=True)

    class Meta:
        indexes = ((("run_id", "resident_id"), True),)

    @property
    def exam_codes(self) -> list[str]:
        """The row's exam codes, in the order of INVITATION_EXAM_BITS (FORMATS.md's table)."""
        return exam_codes(self.exams)


def exam_codes(exams: int) -> list[str]:
    """The exam codes of an INVITATION_EXAM_BITS sum, in the order of the map."""
    return [code for code, bit in INVITATION_EXAM_BITS.items() if exams & bit]


# The per-person questions (already invited in the 年度? stopped?) read a person's invite rows of
# a 年度 through this index. Few indexes: a run writes a row per person invited.
Invitation.add_index(
    Invitation.index(Invitation.resident_id, Invitation.fiscal_year,
                     where=(Invitation.kind == "invite"), name="invitation_invite_by_person")
)


class InvitationExclusion(BaseModel):
    """A person left out of invitations by staff (職域で受診, 治療中, 本人辞退 …) for a 年度 range,
    for one exam or all (exam ''). Ended, never deleted."""

    resident = ForeignKeyField(Resident, on_delete="RESTRICT", backref="+")
    exam = CharField(max_length=24, default="")
    reason = CharField(max_length=16)
    note = CharField(max_length=400, default="")
    from_year = IntegerField()
    to_year = IntegerField(null=True)  # NULL: until ended
    created_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    created_at = DateTimeField()
    ended_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    ended_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("resident", "ended_at"), False),)


# --- institutions ----------------------------------------------------------------------------

class Institution(BaseModel):
    """A cooperating medical institution (がん検診等協力医療機関)."""

    code = CharField(max_length=10, unique=True)
    name = CharField(max_length=100)
    postal_code = CharField(max_length=8, null=True)
    address = CharField(max_length=200, null=True)
    phone = CharField(max_length=20, null=True)
    active = BooleanField(default=True)
    updated_at = DateTimeField()


class InstitutionChange(BaseModel):
    institution = ForeignKeyField(Institution, backref="changes", on_delete="RESTRICT")
    item = CharField(max_length=32)
    before = TextField(null=True)
    after = TextField(null=True)
    batch = ForeignKeyField(ImportBatch, null=True, on_delete="RESTRICT")
    staff = ForeignKeyField(Staff, null=True, on_delete="RESTRICT")
    at = DateTimeField()


# --- screenings ------------------------------------------------------------------------------

class Screening(BaseModel):
    """One screening of one person; the exam's own items live in `items`, validated by the catalogue.

    status: pending (未確定, keyed once), confirmed (確定), void (取消, kept with its reason).
    """

    resident = ForeignKeyField(Resident, backref="screenings", on_delete="RESTRICT")
    exam = CharField(max_length=24)
    target = CharField(max_length=16, default="")  # followup only: gastric | lung | ...
    exam_date = DateField()
    fiscal_year = SmallIntegerField()
    age = SmallIntegerField()
    institution = ForeignKeyField(Institution, on_delete="RESTRICT")
    setting = SmallIntegerField()  # 1 個別, 2 集団
    referral = BooleanField(default=False)  # 要精検
    # 判定保留 (could not be judged, or "test again"); never set together with referral. The outcome
    # is 要精検 / 判定保留 / 精検不要 from these two (catalogue.outcome_of); 精密検査 records have none.
    pending = BooleanField(default=False)
    items = JSONField()
    status = CharField(max_length=12, default="confirmed")
    source = CharField(max_length=8)  # keyed | file
    batch = ForeignKeyField(ImportBatch, null=True, on_delete="RESTRICT")
    entered_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    entered_at = DateTimeField()
    changed_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    changed_at = DateTimeField(null=True)
    verified_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    verified_at = DateTimeField(null=True)
    void_reason = CharField(max_length=200, null=True)

    class Meta:
        indexes = (
            (("resident", "fiscal_year", "exam"), False),
            (("exam", "fiscal_year", "referral"), False),
            (("status", "entered_at"), False),
        )


# The same screening is recorded once among the rows that are not void.
Screening.add_index(
    Screening.index(Screening.resident, Screening.exam, Screening.exam_date, Screening.target,
                    unique=True, where=(Screening.status != "void"), name="screening_unique_active")
)
# Each person's counted screenings, whole — the partial covering index
# screening_confirmed_by_resident (resident, exam, fiscal_year, exam_date, status) WHERE status =
# 'confirmed' — is built by database.STEPS step 11 only, not declared here: Screening is a
# baseline model, and the baseline step would build an index declared here at once (and not
# CONCURRENTLY) on a database from the release before numbered steps.
# Likewise step 20's screening_confirmed_by_year (fiscal_year, resident_id, exam, exam_date, id,
# setting, referral, pending, status) WHERE status = 'confirmed': the report reads a 年度's counted
# screenings from it alone, already in the order of its window (kenshin.statistics.report).


class ItemExtensionChange(BaseModel):
    """Turning a group of catalogue items beyond the assessment's 別添1 on or off (append-only:
    the newest row per code is the state). `amendment` records the amendment of the assessment
    that allows the items (or, when turned off, the reason)."""

    code = CharField(max_length=32)
    enabled = BooleanField()
    amended_on = DateField(null=True)  # the day the amended assessment took effect
    amendment = TextField()
    staff = ForeignKeyField(Staff, on_delete="RESTRICT")
    at = DateTimeField()

    class Meta:
        indexes = ((("code", "at"), False),)


class ScreeningChange(BaseModel):
    """A correction, void or verification of a screening: before/after items, reason, who, when."""

    screening = ForeignKeyField(Screening, backref="changes", on_delete="RESTRICT")
    kind = CharField(max_length=12)  # correct | void | verify | reassign
    before = JSONField(null=True)
    after = JSONField(null=True)
    reason = CharField(max_length=400)
    staff = ForeignKeyField(Staff, on_delete="RESTRICT")
    at = DateTimeField()


class ScreeningKeying(BaseModel):
    """One independent keying of a paper form (ベリファイ入力): round 1 by one person, round 2 by another."""

    screening = ForeignKeyField(Screening, backref="keyings", on_delete="RESTRICT")
    round = SmallIntegerField()
    items = JSONField()
    staff = ForeignKeyField(Staff, on_delete="RESTRICT")
    at = DateTimeField()

    class Meta:
        indexes = ((("screening", "round"), True),)


class ScreeningDifference(BaseModel):
    """An item on which two keyings disagreed, and how the second keyer resolved it against the paper."""

    screening = ForeignKeyField(Screening, backref="differences", on_delete="RESTRICT")
    item = CharField(max_length=32)
    first_value = TextField(null=True)
    second_value = TextField(null=True)
    chosen_value = TextField(null=True)
    reason = CharField(max_length=400)
    resolved_by = ForeignKeyField(Staff, on_delete="RESTRICT")
    at = DateTimeField()


class ScreeningProposal(BaseModel):
    """A correction of a confirmed screening that changes its outcome (要精検・判定保留・精検不要)
    or an item verified entry verifies: it waits here, and the record keeps its confirmed values
    (what counts, prints and is sent) until a different person confirms it — a supervisor's
    approval, or another clerk keying the changed items blind and agreeing (differences settled
    against the paper as in verified entry). kenshin.verification.corrections.

    status: open | applied | withdrawn | rejected | cancelled (the record was voided)."""

    screening = ForeignKeyField(Screening, backref="proposals", on_delete="RESTRICT")
    status = CharField(max_length=12, default="open")
    before = JSONField()  # the record's snapshot when proposed (screenings.snapshot)
    after = JSONField()  # the proposed snapshot
    changed = JSONField()  # keys that differ, in form order
    reason = CharField(max_length=400)
    proposed_by = ForeignKeyField(Staff, on_delete="RESTRICT", backref="+")
    proposed_at = DateTimeField()
    blind = JSONField(null=True)  # the blind keying of the changed keys, as cleaned values
    blind_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    blind_at = DateTimeField(null=True)
    settlement = JSONField(null=True)  # differences settled: {key: {choice, value, reason}}
    decision = CharField(max_length=12, null=True)  # approved | agreed | settled | withdrawn | rejected | void
    decided_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    decided_at = DateTimeField(null=True)
    decision_reason = CharField(max_length=400, null=True)
    change = ForeignKeyField(ScreeningChange, null=True, on_delete="RESTRICT", backref="+")

    class Meta:
        indexes = ((("status", "proposed_at"), False),)


# At most one correction waits per record.
ScreeningProposal.add_index(
    ScreeningProposal.index(ScreeningProposal.screening, unique=True,
                            where=(ScreeningProposal.status == "open"),
                            name="screening_proposal_one_open")
)


class QueueItem(BaseModel):
    """A form or file row that could not be matched to one person: waits for a clerk (突合待ち)."""

    source = CharField(max_length=8)  # file | keyed
    file_name = CharField(max_length=255, null=True)
    line_no = IntegerField(null=True)
    batch = ForeignKeyField(ImportBatch, null=True, on_delete="RESTRICT")
    raw = JSONField()
    reason = CharField(max_length=200)
    exam = CharField(max_length=24)
    target = CharField(max_length=16, default="")
    exam_date = DateField()
    birth_date = DateField()
    sex = SmallIntegerField()
    kana_key = CharField(max_length=60)
    seiri_no = CharField(max_length=20, null=True)
    atena_no = CharField(max_length=15, null=True)
    status = CharField(max_length=12, default="open")  # open | assigned | rejected
    created_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    created_at = DateTimeField()
    resolved_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    resolved_at = DateTimeField(null=True)
    resolution = CharField(max_length=400, null=True)
    screening = ForeignKeyField(Screening, null=True, on_delete="RESTRICT")

    class Meta:
        indexes = (
            (("status", "created_at"), False),
            (("birth_date", "sex", "kana_key"), False),
        )


# --- audit -----------------------------------------------------------------------------------

class AuditHead(BaseModel):
    """One row: the newest sequence number and hash. Writers update it first, which serialises them
    (a row lock on PostgreSQL, the write lock on SQLite), so concurrent workers never fork the chain.
    Verification never trusts it: it recomputes everything from the events themselves."""

    seq = BigIntegerField()
    hash = CharField(max_length=64)


class AuditEvent(BaseModel):
    """One entry of the append-only, hash-chained access log (kenshin.audit writes it)."""

    seq = BigIntegerField(unique=True)
    at = DateTimeField()
    actor = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    actor_label = CharField(max_length=64)
    role = CharField(max_length=100, default="")
    terminal = CharField(max_length=64, default="")
    action = CharField(max_length=48)
    # The person's id as a plain number, without a foreign-key constraint (_deferred: peewee
    # declares none): a purge deletes the person but never touches this append-only row, whose
    # hash covers the id (docs/OPERATIONS.md). Resident ids are never reused (NeverReusedIdField).
    resident = ForeignKeyField(Resident, null=True, backref="+", _deferred=True)
    object_type = CharField(max_length=32, default="")
    object_id = CharField(max_length=64, default="")
    outcome = CharField(max_length=12)
    details = JSONField(default=dict)
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64)

    class Meta:
        indexes = (
            (("at",), False),
            (("actor", "at"), False),
            (("resident", "at"), False),
            (("action", "at"), False),
        )


class LongLogonNotice(BaseModel):
    """A notice to a division about a long logon session, and the purpose it reported."""

    session = ForeignKeyField(UserSession, on_delete="RESTRICT")
    division = CharField(max_length=60)
    period_from = DateField()
    period_to = DateField()
    notified_by = ForeignKeyField(Staff, on_delete="RESTRICT", backref="+")
    notified_at = DateTimeField()
    reply_by = DateField(null=True)  # the date the division is asked to report the purpose by
    answer = TextField(null=True)
    answered_at = DateTimeField(null=True)
    closed_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    closed_at = DateTimeField(null=True)


# --- inquiries and requests ------------------------------------------------------------------

class Inquiry(BaseModel):
    """問合せ記録: received at reception, handled until closed."""

    received_at = DateTimeField()
    channel = CharField(max_length=8)  # 窓口 電話 文書 メール
    requester_type = CharField(max_length=8)  # 本人 代理人 医療機関 その他
    requester_name = CharField(max_length=60)
    requester_contact = CharField(max_length=120, default="")
    resident = ForeignKeyField(Resident, null=True, on_delete="RESTRICT")
    subject = TextField()
    status = CharField(max_length=8, default="open")  # open | closed
    created_by = ForeignKeyField(Staff, on_delete="RESTRICT", backref="+")
    created_at = DateTimeField()
    closed_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    closed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "received_at"), False),)


class InquiryEntry(BaseModel):
    inquiry = ForeignKeyField(Inquiry, backref="entries", on_delete="RESTRICT")
    at = DateTimeField()
    staff = ForeignKeyField(Staff, on_delete="RESTRICT")
    text = TextField()


class DisclosureRequest(BaseModel):
    """開示・訂正・利用停止請求 (個人情報保護法 第77条 ff.) about one person."""

    kind = CharField(max_length=12)  # disclosure | correction | suspension
    received_on = DateField()
    requester_name = CharField(max_length=60)
    requester_relation = CharField(max_length=12)  # 本人 | 代理人
    identity_check = CharField(max_length=200)
    resident = ForeignKeyField(Resident, on_delete="RESTRICT")
    details = TextField(default="")
    deadline = DateField()
    extended_deadline = DateField(null=True)
    extension_reason = CharField(max_length=400, null=True)
    decision = CharField(max_length=16, null=True)  # 全部開示 一部開示 不開示 訂正 利用停止 ...
    decision_note = TextField(null=True)
    decided_on = DateField(null=True)
    decided_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    status = CharField(max_length=8, default="open")
    created_by = ForeignKeyField(Staff, on_delete="RESTRICT", backref="+")
    created_at = DateTimeField()


class DisclosureEntry(BaseModel):
    """One step in handling a request: received, extended, decided, document produced, carried out."""

    request = ForeignKeyField(DisclosureRequest, backref="entries", on_delete="RESTRICT")
    kind = CharField(max_length=12)  # receive | extend | decide | document | correct | suspend | note
    at = DateTimeField()
    staff = ForeignKeyField(Staff, on_delete="RESTRICT")
    text = TextField()

    class Meta:
        indexes = ((("request", "at"), False),)


# --- operations (kenshin.operations) ----------------------------------------------------------

class JobRun(BaseModel):
    """One run of an operator's job (backup, purge, audit verification, import ...): when, how long,
    outcome and a summary of counts. Never personal data: the maintainer's screen lists these."""

    job = CharField(max_length=32)
    started_at = DateTimeField()
    finished_at = DateTimeField()
    outcome = CharField(max_length=12)  # ok | failed | rejected
    actor_label = CharField(max_length=64)
    summary = JSONField(default=dict)

    class Meta:
        indexes = ((("job", "started_at"), False),)


class PurgeRun(BaseModel):
    """A purge (retention): when, the rule applied and how many rows of each kind were deleted."""

    at = DateTimeField()
    as_of = DateField()
    retention_years = SmallIntegerField()
    removed_before_fy = SmallIntegerField()  # people removed in a 年度 before this one went
    actor_label = CharField(max_length=64)
    counts = JSONField(default=dict)


class TrainingRecord(BaseModel):
    """A staff member attended the yearly security and privacy training (研修) on a date."""

    staff = ForeignKeyField(Staff, backref="trainings", on_delete="RESTRICT")
    completed_on = DateField()
    recorded_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    recorded_at = DateTimeField()

    class Meta:
        indexes = ((("staff", "completed_on"), True),)


class Setting(BaseModel):
    """An administrator's setting kept in the database (changes audited): key → JSON value."""

    key = CharField(max_length=64, unique=True)
    value = JSONField()
    changed_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    changed_at = DateTimeField()


# --- provision through the intermediate server (中間サーバー) ----------------------------------------

class PermittedQuery(BaseModel):
    """One line of the permitted-query list (照会許可用照合リスト): (requester, procedure, item).
    Never deleted: a line the next published list drops gets `removed_batch`."""

    requester = CharField(max_length=6)  # 地方公共団体コード
    procedure = CharField(max_length=200)  # 事務
    item = CharField(max_length=16)  # history | results
    added_batch = ForeignKeyField(ImportBatch, on_delete="RESTRICT", backref="+")
    removed_batch = ForeignKeyField(ImportBatch, null=True, on_delete="RESTRICT", backref="+")

    class Meta:
        indexes = ((("requester", "procedure", "item"), False),)


class ProvisionSetting(BaseModel):
    """A change of whether an item carries the 自動応答不可 flag; the newest row per item holds.
    Kept as history: who, when, why."""

    item = CharField(max_length=16)
    no_auto_answer = BooleanField()
    reason = CharField(max_length=400)
    staff = ForeignKeyField(Staff, on_delete="RESTRICT", backref="+")
    at = DateTimeField()

    class Meta:
        indexes = ((("item", "at"), False),)


class ProvisionQuery(BaseModel):
    """One query from the intermediate server and what became of it (the provision record).

    status: answered | held | declined | refused | unknown_person | suspended.
    `content` is what was (or, while held, would be) sent; it never changes once stored."""

    query_id = CharField(max_length=64, unique=True)
    requester = CharField(max_length=6)
    procedure = CharField(max_length=200)
    person_no = CharField(max_length=15)  # the 団体内統合宛名番号 as asked
    resident = ForeignKeyField(Resident, null=True, on_delete="RESTRICT", backref="+")
    requested = JSONField()  # ["history", "results"]
    status = CharField(max_length=16)
    reason = CharField(max_length=400, null=True)  # refusal or decline reason
    held_items = JSONField(null=True)  # the flagged items that made it wait
    content = JSONField(null=True)
    content_sha256 = CharField(max_length=64, null=True)
    terminal = CharField(max_length=64, default="")
    received_at = DateTimeField()
    answered_at = DateTimeField(null=True)  # when the answer became available
    decided_by = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    decided_at = DateTimeField(null=True)
    delivered_at = DateTimeField(null=True)  # when the network first fetched the answer

    class Meta:
        indexes = ((("status", "received_at"), False), (("resident", "received_at"), False),
                   (("person_no",), False))


class ProvisionStep(BaseModel):
    """Every step of a query: received, answered, held, approved, declined, refused, delivered."""

    query = ForeignKeyField(ProvisionQuery, backref="steps", on_delete="RESTRICT")
    kind = CharField(max_length=16)
    at = DateTimeField()
    staff = ForeignKeyField(Staff, null=True, on_delete="RESTRICT", backref="+")
    note = CharField(max_length=400, default="")

    class Meta:
        indexes = ((("query", "at"), False),)
class StatisticsSetting(BaseModel):
    """A setting of follow-up and statistics, edited by a supervisor (audited with before/after):
    the days after which a 未把握 person gets a 受診勧奨 letter, and the national 許容値 / 目標値
    of the process indicators (kenshin.statistics.settings holds the defaults and their sources)."""

    key = CharField(max_length=64, unique=True)
    value = CharField(max_length=32)
    staff = ForeignKeyField(Staff, on_delete="RESTRICT", backref="+")
    at = DateTimeField()


class StatisticsSnapshot(BaseModel):
    """The screening report of one 年度 as last computed (the statistics screen reads this, not the
    whole 年度 on every visit); 再集計 replaces it, audited. `rows`: the report's rows as lists."""

    fiscal_year = IntegerField(unique=True)
    rows = JSONField(default=list)
    computed_at = DateTimeField()
    computed_label = CharField(max_length=64)
    milliseconds = IntegerField()  # how long the computation took


class ReminderRun(BaseModel):
    """One print run of 受診勧奨 letters (to people) or 精検結果連絡票 (to 精検 institutions)."""

    kind = CharField(max_length=12)  # letter | request
    fiscal_year = SmallIntegerField()
    exam = CharField(max_length=24, default="")  # "" = every exam
    after_days = IntegerField(null=True)
    count = IntegerField()
    staff = ForeignKeyField(Staff, on_delete="RESTRICT", backref="+")
    at = DateTimeField()


class Reminder(BaseModel):
    """A referred screening a print run covered: shown on that person's line of the worklist."""

    run = ForeignKeyField(ReminderRun, backref="reminders", on_delete="RESTRICT")
    screening = ForeignKeyField(Screening, on_delete="RESTRICT", backref="+")
    kind = CharField(max_length=12)
    at = DateTimeField()

    class Meta:
        indexes = ((("screening", "kind"), False),)


ALL_MODELS = [
    SchemaMigration, Staff, Credential, UserSession, SessionDraft, PendingChallenge, ImportBatch, ImportRecord,
    Resident,
    ResidentChange, SeiriNumber, Institution, InstitutionChange, Screening, ItemExtensionChange,
    ScreeningChange,
    ScreeningKeying, ScreeningDifference, ScreeningProposal, QueueItem, AuditHead, AuditEvent,
    LongLogonNotice, Inquiry,
    InquiryEntry, DisclosureRequest, DisclosureEntry, JobRun, PurgeRun, TrainingRecord, Setting,
    SeiriCounter, ScreeningRuleSet, ScreeningRule,
    InvitationRun, Invitation, InvitationExclusion, PermittedQuery, ProvisionSetting,
    ProvisionQuery, ProvisionStep,
    StatisticsSetting, ReminderRun, Reminder, LastSearch, StatisticsSnapshot,
]
