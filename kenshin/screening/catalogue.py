"""The exam catalogue: the one place that knows each exam's items, codes, rules and labels.

Forms, CSV imports, validation, the person page, prints and statistics all read it;
adding an exam or a code is one edit here. Items follow the assessment's 別添1 (labels
and paper-form order) and the column contract in docs/FORMATS.md ("Screening results").
Common columns (exam_date, institution_code, setting, ...) are not items: the caller
handles them, but the code table `SETTINGS` lives here (sex codes: kenshin.core.labels).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from kenshin.core.errors import NotFound
from kenshin.core.textinput import ascii_text

SETTINGS: Mapping[str, str] = MappingProxyType({"1": "個別", "2": "集団"})
MEN, WOMEN = 1, 2

FOLLOWUP_TARGETS: Mapping[str, str] = MappingProxyType(
    {"gastric": "胃", "lung": "肺", "colorectal": "大腸", "cervical": "子宮", "breast": "乳"}
)
WOMEN_ONLY_TARGETS = ("cervical", "breast")
# Which screenings a 精密検査 of each target follows up (used by case tracking).
FOLLOWUP_TARGET_EXAMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "gastric": ("gastric_xray", "gastric_endoscopy"),
        "lung": ("lung",),
        "colorectal": ("colorectal",),
        "cervical": ("cervical",),
        "breast": ("breast",),
    }
)

REQUIRED = "必須です"
OUTSIDE_ASSESSMENT = ("評価書（別添1）にない項目です（{title}）。管理者が評価書の修正を記録して有効にするまで"
                      "記録できません")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


# Dashes a keyboard or an IME gives for the paper's －: minus sign, hyphens, dashes, the long
# vowel mark ー (what a Japanese IME types for "-"), all read as "-".
_DASHES = str.maketrans({ch: "-" for ch in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc"})


def paper_key(text: str) -> str:
    """A typed code or paper form, folded for comparison: NFKC (full-width as half-width),
    every dash as "-", no spaces, case folded."""
    folded = unicodedata.normalize("NFKC", text or "").translate(_DASHES)
    return "".join(folded.split()).casefold()


def _typed_as_is(code: str) -> bool:
    """A short code a clerk types as it is (0, 1, X), shown beside the paper's words; not the
    English words of the files (negative, low)."""
    return len(code) <= 3 and not (code.isalpha() and code.islower())


class _Bad(ValueError):
    """One item's value is invalid; the message is for the clerk."""


@dataclass(frozen=True)
class Item:
    """One recorded item of an exam: a CSV column, a form field and a printed line."""

    key: str
    label: str
    kind: str  # "code", "number" or "text"
    codes: Mapping[str, str] = field(default_factory=dict, hash=False)
    required: bool = True
    decides_referral: bool = False
    summary: bool = True
    min: Decimal | None = None
    max: Decimal | None = None
    decimals: int = 1
    unit: str = ""
    max_length: int | None = None
    blank_means: str | None = None
    # Items the assessment's 別添1 does not list carry the code of their Extension: they are
    # neither shown, keyed, imported nor stored until an administrator turns it on.
    extension: str | None = None
    # How the paper form writes each code (code → forms, the first one the printed word): what a
    # clerk may type on a screen (read_paper). Files (FORMATS.md) take the codes only.
    paper: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def __post_init__(self):
        if self.kind not in ("code", "number", "text"):
            raise ValueError(f"unknown item kind {self.kind!r}")
        object.__setattr__(self, "codes", MappingProxyType(dict(self.codes)))
        if self.kind == "code":
            unknown = set(self.paper) - set(self.codes)
            if unknown:
                raise ValueError(f"{self.key}: paper forms for codes it does not have: {sorted(unknown)}")
            forms = {paper_key(code): code for code in self.codes}
            for code, written in self.paper.items():
                for form in written:
                    other = forms.setdefault(paper_key(form), code)
                    if other != code:
                        raise ValueError(f"{self.key}: {form!r} would read as both {other!r} and {code!r}")
            object.__setattr__(self, "paper", MappingProxyType(
                {code: tuple(self.paper.get(code, ())) for code in self.codes}))
            object.__setattr__(self, "_forms", MappingProxyType(forms))
        for name in ("min", "max"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Decimal(str(value)))

    def code_list(self) -> str:
        """The allowed codes as the clerk reads them in an error message."""
        listed = ", ".join(self.codes)
        if self.blank_means:
            return f"{listed} のいずれか、{self.blank_means}は空欄"
        return f"{listed} のいずれか"

    def from_paper(self, value: str | None) -> str | None:
        """The catalogue code for what was typed from the paper (a code, or one of the forms the
        item declares, full- or half-width); None when it is none of them."""
        if self.kind != "code":
            return None
        return self._forms.get(paper_key(value or "")) if (value or "").strip() else None

    def paper_list(self) -> str:
        """The accepted paper forms as a clerk reads them: 陰性（－・（－）・1）、陽性（＋・（＋）・2）."""
        parts = []
        for code in self.codes:
            written = self.paper.get(code) or (code,)
            main, others = written[0], list(written[1:])
            if _typed_as_is(code) and all(paper_key(code) != paper_key(w) for w in written):
                others.insert(0, code)
            parts.append(f"{main}（{'・'.join(others)}）" if others else main)
        listed = "、".join(parts)
        return f"{listed}、{self.blank_means}は空欄" if self.blank_means else listed

    def paper_hint(self) -> list[tuple[str, str]]:
        """(the printed word, its short alternatives) per code, for the hint beside a field:
        陰性 －・1, なし 0・無, 3a."""
        out = []
        for code in self.codes:
            written = self.paper.get(code) or (code,)
            shorts = [w for w in written[1:] if len(w) <= 5 and "（" not in w and written[0] not in w]
            if _typed_as_is(code) and all(paper_key(code) != paper_key(w) for w in written):
                shorts.insert(0, code)
            out.append((written[0], "・".join(shorts[:3])))
        return out

    def written(self, code: str | None) -> str:
        """A stored code as the paper writes it (positive → 陽性, 3a → 3a): what a form is filled
        with, read back to the same code by from_paper."""
        if self.kind != "code" or not code or code not in self.codes:
            return code or ""
        return (self.paper.get(code) or (code,))[0]

    def meaning(self, value: str | None) -> str:
        """What a typed value stands for (the catalogue's label), "" when it reads as no code."""
        code = self.from_paper(value)
        return self.codes[code] if code is not None else ""

    def clean(self, raw: str | None) -> str:
        """The canonical stored string for a raw value ("" for blank); raises _Bad."""
        if self.kind == "text":
            return self._clean_text(raw)
        value = ascii_text(raw)
        if not value:
            if self.required:
                raise _Bad(REQUIRED)
            return ""
        if self.kind == "code":
            return self._clean_code(value)
        return self._clean_number(value)

    def _clean_code(self, value: str) -> str:
        if value in self.codes:
            return value
        folded = {code.casefold(): code for code in self.codes}
        if value.casefold() in folded:
            return folded[value.casefold()]
        raise _Bad(f"コードが不正です: {value}（{self.code_list()}）")

    def _clean_number(self, value: str) -> str:
        if not _NUMBER.fullmatch(value):
            raise _Bad("数値で入力してください")
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern already guards this
            raise _Bad("数値で入力してください") from None
        step = Decimal(1).scaleb(-self.decimals)
        if number != number.quantize(step):
            raise _Bad(f"小数点以下は{self.decimals}桁までです" if self.decimals else "整数で入力してください")
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise _Bad(f"{self.min}〜{self.max}の範囲で入力してください")
        if number == number.to_integral_value():
            return str(int(number))
        return str(number.quantize(step).normalize())

    def _clean_text(self, raw: str | None) -> str:
        value = (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if not value:
            if self.required:
                raise _Bad(REQUIRED)
            return ""
        if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in value):
            raise _Bad("制御文字は使えません")
        if self.max_length is not None and len(value) > self.max_length:
            raise _Bad(f"{self.max_length}文字以内で入力してください")
        return value

    def display(self, value: str | None) -> str:
        """The value as the person page and prints show it."""
        if value is None or value == "":
            if self.blank_means:
                return self.blank_means
            return "" if self.kind == "text" else "（未入力）"
        if self.kind == "code":
            return self.codes.get(value, value)
        if self.kind == "number":
            return f"{value}{self.unit}"
        return value


def _never_referred(exam: "Exam", items: Mapping[str, str]) -> bool:
    return False


@dataclass(frozen=True)
class Exam:
    """One screening type: its items in paper-form order and its 要精検 rules."""

    code: str
    name: str
    short_name: str
    items: tuple[Item, ...]
    report_category: str | None = None
    sex: int | None = None
    referral_rule: Callable[[Mapping[str, str]], bool | None] | None = field(default=None, compare=False)
    # (message when the rule says 0 but 1 was given, message when the rule says 1 but 0 was given)
    referral_messages: tuple[str, str] = ("", "")
    # The screening's 要精検 flag from its clean items (FORMATS.md), declared per exam: one of the
    # outcome rules below ("要精検 flag rules"); an exam without one never refers.
    referral_outcome: Callable[["Exam", Mapping[str, str]], bool] = field(
        default=_never_referred, compare=False)
    has_target: bool = False
    # A 精密検査 record: 別添1 lists no 検診種別 for it (optional), and it has no outcome of its own.
    followup: bool = False
    # Cross-item rules: (clean items, sex) → {key: [messages]}; run only when the items they read
    # are valid. They refuse.
    checks: tuple[Callable[[Mapping[str, str], int | None], dict[str, list[str]]], ...] = field(
        default=(), compare=False)
    # 判定保留 (FORMATS.md "Judgement outcome"): clean items → True when the result could not be
    # judged or the guideline says "test again"; 要精検 wins when both hold.
    pending_rule: Callable[[Mapping[str, str]], bool] | None = field(default=None, compare=False)
    # Cross-item warnings: clean items → [messages]. They never refuse (the doctor decides).
    cautions: tuple[Callable[[Mapping[str, str]], list[str]], ...] = field(default=(), compare=False)

    @property
    def referral_derivable(self) -> bool:
        return self.referral_rule is not None

    def referral_flag(self, clean_items: Mapping[str, str]) -> bool:
        """Whether a screening of this exam with these clean items is 要精検."""
        return self.referral_outcome(self, clean_items)

    def pending(self, clean_items: Mapping[str, str]) -> bool:
        """判定保留 by the exam's rule (before 要精検 takes precedence: see outcome)."""
        return self.pending_rule is not None and bool(self.pending_rule(clean_items))

    def outcome(self, clean_items: Mapping[str, str]) -> str:
        """The screening's one outcome from its items: REFERRAL, PENDING or CLEAR (ATTENDED for a
        精密検査 record, which judges nobody)."""
        return outcome_of(self.code, self.referral_flag(clean_items), self.pending(clean_items))

    @property
    def all_fields(self) -> tuple[Item, ...]:
        """Every per-exam column in form order, items outside the assessment included."""
        return ((TARGET_ITEM,) if self.has_target else ()) + self.items

    @property
    def fields(self) -> tuple[Item, ...]:
        """The assessment's per-exam columns in form order: `target` first for followup, then
        the items of 別添1 (no item of an Extension: see fields_with)."""
        return tuple(item for item in self.all_fields if item.extension is None)

    def fields_with(self, enabled: Collection[str] = ()) -> tuple[Item, ...]:
        """The columns in use: the assessment's, and those of the Extensions turned on."""
        return tuple(item for item in self.all_fields if item.extension is None or item.extension in enabled)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self.fields)

    @property
    def all_keys(self) -> tuple[str, ...]:
        return tuple(item.key for item in self.all_fields)

    def keys_with(self, enabled: Collection[str] = ()) -> tuple[str, ...]:
        return tuple(item.key for item in self.fields_with(enabled))

    def item(self, key: str) -> Item:
        for item in self.all_fields:
            if item.key == key:
                return item
        raise KeyError(key)


# --- the outcome (判定) of a screening: three states, not two (FORMATS.md) ---------------------

REFERRAL, PENDING, CLEAR, ATTENDED = "referral", "pending", "clear", "attended"
OUTCOME_LABELS: Mapping[str, str] = MappingProxyType({
    REFERRAL: "要精検",
    PENDING: "判定保留（再検査）",
    CLEAR: "精検不要",
    ATTENDED: "精密検査受診",
})
# In words a resident understands on the phone (person page, printed summary, entry screen).
OUTCOME_EXPLAINED: Mapping[str, str] = MappingProxyType({
    REFERRAL: "精密検査が必要です。",
    PENDING: "検査の結果を判定できなかったため、もう一度検査を受けていただく必要があります"
             "（「精密検査は不要」という意味ではありません）。",
    CLEAR: "精密検査の必要はありません。",
    ATTENDED: "精密検査を受けた記録です（検診の判定ではありません）。",
})


def outcome_of(exam_code: str, referral: bool, pending: bool) -> str:
    """The outcome from a record's stored flags: 要精検 wins over 判定保留; a 精密検査 record has none."""
    exam = EXAMS.get(exam_code)
    if exam is not None and exam.followup:
        return ATTENDED
    if referral:
        return REFERRAL
    return PENDING if pending else CLEAR


def pending_flag(exam_code: str, clean_items: Mapping[str, str]) -> bool:
    """The stored 判定保留 flag: the exam's 判定保留 rule holds and the screening is not 要精検."""
    exam = get_exam(exam_code)
    return exam.pending(clean_items) and not referral_flag(exam_code, clean_items)


def _pending_when(**codes: tuple[str, ...]) -> Callable[[Mapping[str, str]], bool]:
    """判定保留 when any of these items holds one of its codes."""
    def rule(items: Mapping[str, str]) -> bool:
        return any(items.get(key) in values for key, values in codes.items())
    return rule


# --- item builders -------------------------------------------------------------------

NONE_ANY = {"0": "なし", "1": "あり"}
REFERRAL_CODES = {"0": "対象外", "1": "要精検"}  # 0 is not 精検不要: it holds 判定保留 too
JUDGEMENT_CODES = {"normal": "異常認めず", "guidance": "要指導", "referral": "要精検"}
POS_NEG = {"negative": "陰性", "positive": "陽性"}

# How the paper forms write the codes (Item.paper): the printed word first, then the marks and
# the numbers of the printed choices (1 陰性 2 陽性 …). Codes the paper prints as they are (3a,
# E1, N …) declare themselves (_printed, below the code tables); a code is always read as itself.
NONE_ANY_PAPER = {"0": ("なし", "無", "－", "（－）"), "1": ("あり", "有", "＋", "（＋）")}
REFERRAL_PAPER = {"0": ("対象外", "なし", "無", "不要", "精検不要"), "1": ("要精検", "あり", "有", "対象")}
JUDGEMENT_PAPER = {"normal": ("異常認めず", "異常なし", "1"), "guidance": ("要指導", "2"),
                   "referral": ("要精検", "3")}
POS_NEG_PAPER = {"negative": ("陰性", "－", "（－）", "1"), "positive": ("陽性", "＋", "（＋）", "2")}


def _code(key, label, codes, *, required=True, decides=False, summary=True, blank_means=None,
          extension=None, paper=None) -> Item:
    return Item(key, label, "code", codes, required=required, decides_referral=decides,
                summary=summary, blank_means=blank_means, extension=extension,
                paper=_written_as_labels(codes) if paper is None else paper)


def _written_as_labels(codes: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Codes whose paper prints the label itself (0回 … 3回以上, 禁煙, 閉経): the label is the form."""
    return {code: (label,) for code, label in codes.items()}


def _flag(key, label, codes=NONE_ANY, *, summary=True, paper=None) -> Item:
    if paper is None:
        paper = NONE_ANY_PAPER if codes is NONE_ANY else _written_as_labels(codes)
    return Item(key, label, "code", codes, required=True, summary=summary, paper=paper)


def _number(key, label, lo, hi, unit, *, summary=True) -> Item:
    return Item(key, label, "number", min=lo, max=hi, unit=unit, summary=summary)


def _text(key, label, max_length, *, required=False, summary=True, decides=False) -> Item:
    return Item(key, label, "text", required=required, max_length=max_length, summary=summary,
                decides_referral=decides)


def _referral(label, *, derived: bool) -> Item:
    return _code("referral", label, REFERRAL_CODES, required=not derived, decides=True,
                 paper=REFERRAL_PAPER)


TARGET_ITEM = _code("target", "精密検査の対象", FOLLOWUP_TARGETS, paper={
    code: (name, f"{name}がん") for code, name in FOLLOWUP_TARGETS.items()})


# --- 要精検 rules -----------------------------------------------------------------------

def _gastric_xray_rule(items: Mapping[str, str]) -> bool | None:
    category = items.get("xray_category")
    if category not in GASTRIC_XRAY_CATEGORIES:
        return None
    return category in GASTRIC_XRAY_REFERRED


def _gastric_endoscopy_rule(items: Mapping[str, str]) -> bool | None:
    result = items.get("endoscopy_result")
    if result not in ENDOSCOPY_RESULTS:
        return None
    return result in ("suspected", "cancer")


def _colorectal_rule(items: Mapping[str, str]) -> bool | None:
    result = items.get("fobt_result")
    if result not in FOBT_RESULTS:
        return None
    return result == "positive"


def _lung_rule(items: Mapping[str, str]) -> bool | None:
    grade, sputum = items.get("xray_grade"), items.get("sputum_class")
    if grade not in LUNG_XRAY_GRADES or (sputum != "" and sputum not in SPUTUM_CLASSES):
        return None
    return grade in ("E1", "E2") or sputum in ("D", "E")


def _breast_rule(items: Mapping[str, str]) -> bool | None:
    category = items.get("mammography_category")
    if category not in MAMMOGRAPHY_CATEGORIES:
        return None
    return category in ("3", "4", "5")


# --- 要精検 flag rules (Exam.referral_outcome) -----------------------------------------------

def _by_referral_item(exam: Exam, items: Mapping[str, str]) -> bool:
    """The referral item says it (0/1); left blank, the exam's rule derives it from the findings."""
    referral = items.get("referral") or ""
    if not referral and exam.referral_derivable:
        return bool(exam.referral_rule(items))
    return referral == "1"


def _by_judgement(exam: Exam, items: Mapping[str, str]) -> bool:
    """The 判定区分 is 要精検."""
    return items.get("judgement") == "referral"


def _by_hepatitis_results(exam: Exam, items: Mapping[str, str]) -> bool:
    """B型 positive, or C型 "high" likelihood of infection."""
    return items.get("hbs_antigen") == "positive" or items.get("hcv_judgement") == "high"


def _fracture_site_check(items: Mapping[str, str], sex: int | None) -> dict[str, list[str]]:
    history, site = items.get("fracture_history"), items.get("fracture_site", "")
    if history == "1" and not site:
        return {"fracture_site": ["骨折歴ありの場合は必須です"]}
    if history == "0" and site:
        return {"fracture_site": ["骨折歴なしの場合は空欄にしてください"]}
    return {}


def _women_only_target_check(items: Mapping[str, str], sex: int | None) -> dict[str, list[str]]:
    """子宮・乳 are women-only cancers: a man's 精密検査 for them is a keying or matching error."""
    if sex == MEN and items.get("target") in WOMEN_ONLY_TARGETS:
        name = FOLLOWUP_TARGETS[items["target"]]
        return {"target": [f"{name}の精密検査は女性のみです（男性には記録できません）"]}
    return {}


def _pregnancy_check(items: Mapping[str, str], sex: int | None) -> dict[str, list[str]]:
    if sex == MEN and items.get("pregnancy") == "1":
        return {"pregnancy": ["男性に妊娠ありは記録できません"]}
    return {}


# Warnings (the doctor decides; nothing is refused): clean items → messages.
OSTEOPOROSIS_THRESHOLD = Decimal(70)  # %YAM ≤ 70: the diagnostic criterion of osteoporosis


def _low_density_judged_normal(items: Mapping[str, str]) -> list[str]:
    density = items.get("bone_density") or ""
    if items.get("judgement") == "normal" and density and Decimal(density) <= OSTEOPOROSIS_THRESHOLD:
        return [f"骨密度{density}%YAM（70%以下は骨粗鬆症の診断基準）で判定が「異常認めず」です。"
                "用紙の記載を確かめてください（判定は医師のものです）"]
    return []


# --- code tables ----------------------------------------------------------------------

GASTRIC_XRAY_CATEGORIES = {  # 日本消化器がん検診学会 読影判定区分 (DOMAIN.md 2.1)
    "0": "カテゴリー0（判定不能）",
    "1": "カテゴリー1（異常なし）",
    "2": "カテゴリー2（良性）",
    "3a": "カテゴリー3a（良性・要精検）",
    "3b": "カテゴリー3b（良悪性の判定困難）",
    "4": "カテゴリー4（悪性の疑い）",
    "5": "カテゴリー5（悪性）",
}
GASTRIC_XRAY_REFERRED = ("3a", "3b", "4", "5")
ENDOSCOPY_RESULTS = {"none": "胃がんなし", "suspected": "胃がん疑い", "cancer": "胃がん"}
LUNG_XRAY_GRADES = {  # 肺がん検診の手引き (DOMAIN.md 2.3)
    "A": "A（読影不能）",
    "B": "B（異常所見なし）",
    "C": "C（異常所見あり・精検不要）",
    "D1": "D1（治療を要する結核の疑い）",
    "D2": "D2（結核以外の呼吸器疾患）",
    "D3": "D3（循環器疾患）",
    "D4": "D4（その他）",
    "E1": "E1（肺がんを否定できない）",
    "E2": "E2（肺がんを強く疑う）",
}
SPUTUM_CLASSES = {  # 喀痰細胞診 (DOMAIN.md 2.3)
    "A": "A（材料不適）",
    "B": "B（異型なし・軽度異型）",
    "C": "C（中等度異型）",
    "D": "D（高度異型・悪性疑い）",
    "E": "E（悪性腫瘍細胞）",
}
MAMMOGRAPHY_CATEGORIES = {  # DOMAIN.md 2.4
    "1": "カテゴリー1（異常なし）",
    "2": "カテゴリー2（良性）",
    "3": "カテゴリー3（良性、悪性を否定できず）",
    "4": "カテゴリー4（悪性の疑い）",
    "5": "カテゴリー5（悪性）",
    "N": "カテゴリーN（判定不能）",
}
FOBT_RESULTS = {"negative": "陰性", "positive": "陽性", "undetermined": "判定不能"}
# CPI (地域保健・歯周疾患検診マニュアル): 9 除外歯 (the index teeth cannot be examined), X 該当歯なし
# (no index tooth at all: a person with no teeth is recordable).
CPI_BLEEDING = {"0": "健全", "1": "出血あり", "9": "除外歯", "X": "該当歯なし"}
CPI_POCKET = {"0": "健全", "1": "4〜5mm", "2": "6mm以上", "9": "除外歯", "X": "該当歯なし"}


def _printed(codes: Mapping[str, str], prefix: str = "") -> dict[str, tuple[str, ...]]:
    """Codes the paper prints as they are (3a, E1, N, CPI 0/1/9/X), also with their prefix."""
    return {code: (code, f"{prefix}{code}") if prefix else (code,) for code in codes}


GASTRIC_XRAY_PAPER = _printed(GASTRIC_XRAY_CATEGORIES, "カテゴリー")
ENDOSCOPY_PAPER = {"none": ("胃がんなし", "なし", "1"), "suspected": ("胃がん疑い", "疑い", "2"),
                   "cancer": ("胃がん", "がん", "3")}
LUNG_XRAY_PAPER = _printed(LUNG_XRAY_GRADES)
SPUTUM_PAPER = _printed(SPUTUM_CLASSES)
MAMMOGRAPHY_PAPER = _printed(MAMMOGRAPHY_CATEGORIES, "カテゴリー")
FOBT_PAPER = {**POS_NEG_PAPER, "undetermined": ("判定不能", "3")}
CPI_BLEEDING_PAPER = {code: (code, label) for code, label in CPI_BLEEDING.items()}
CPI_POCKET_PAPER = {code: (code, label) for code, label in CPI_POCKET.items()}



# --- items beyond the assessment (別添1) ------------------------------------------------

@dataclass(frozen=True)
class Extension:
    """Items the catalogue holds but the assessment does not list: off until an administrator
    turns them on, recording the amendment of the assessment that allows them (kenshin.screening
    .extensions keeps that record). `amendment` says what the amendment must cover."""

    code: str
    exam: str
    title: str
    amendment: tuple[str, ...]
    min_age: int | None = None  # below it, a value is a caution (never refused: the city decides)


HPV_PRIMARY = "hpv_primary"
EXTENSIONS: Mapping[str, Extension] = MappingProxyType({
    HPV_PRIMARY: Extension(
        HPV_PRIMARY, "cervical", "HPV検査単独法（子宮頸がん検診、30歳以上）",
        (
            "特定個人情報ファイル記録項目（別添1）の「子宮がん」に、HPV検査の結果・トリアージ細胞診の結果・"
            "追跡検査の対象 の3項目を追加すること",
            "対象者の範囲（30歳以上の子宮頸がん検診でHPV検査単独法を受けた人）と、結果を入手する経路"
            "（協力医療機関からの検診票・結果ファイル）",
            "追跡検査（HPV陽性・トリアージ陰性の人の翌年度の検査）のために記録を保有する期間",
            "修正した評価書の再実施・公表の日付と、文書の版・番号",
        ),
        min_age=30,
    ),
})
HPV_RESULTS = {"negative": "陰性", "positive": "陽性"}
HPV_TRIAGE = {"nilm": "NILM（陰性）", "ascus_plus": "ASC-US以上"}
# The Bethesda results the cytology sheet may print, every one of them ASC-US or worse.
HPV_TRIAGE_PAPER = {"nilm": ("NILM", "陰性"),
                    "ascus_plus": ("ASC-US以上", "ASC-US", "ASC-H", "LSIL", "HSIL", "SCC", "AGC", "AIS")}


def _hpv_check(items: Mapping[str, str], sex: int | None) -> dict[str, list[str]]:
    """HPV 検査単独法: triage cytology only after a positive HPV test; 追跡検査 ⇔ HPV positive with
    NILM triage; 要精検 ⇔ HPV positive and triage ASC-US or worse (the `referral` keyed must agree)."""
    if "hpv_result" not in items:
        return {}  # the extension is off: none of its items reaches here
    result, triage, track = items.get("hpv_result"), items.get("hpv_triage", ""), items.get("hpv_followup", "")
    errors: dict[str, list[str]] = {}
    if not result:
        for key in ("hpv_triage", "hpv_followup"):
            if items.get(key):
                errors[key] = ["HPV検査の結果がない場合は空欄にしてください"]
        return errors
    if result == "negative" and triage:
        errors["hpv_triage"] = ["HPV陰性の場合、トリアージ細胞診はありません（空欄）"]
    if result == "positive" and not triage:
        errors["hpv_triage"] = ["HPV陽性の場合は必須です"]
    if "hpv_triage" in errors:
        return errors
    tracked = result == "positive" and triage == "nilm"
    if not track:
        errors["hpv_followup"] = ["HPV検査を行った場合は必須です"]
    elif track != ("1" if tracked else "0"):
        errors["hpv_followup"] = ["HPV陽性・トリアージNILMは追跡検査の対象(1)です" if tracked
                                  else "追跡検査の対象はHPV陽性・トリアージNILMの人だけです(0)"]
    referred = result == "positive" and triage == "ascus_plus"
    if items.get("referral") and items["referral"] != ("1" if referred else "0"):
        errors["referral"] = ["HPV陽性かつトリアージASC-US以上は要精検(1)です" if referred
                              else "HPV検査単独法では、HPV陽性かつトリアージASC-US以上だけが要精検(1)です"]
    return errors


# --- the catalogue --------------------------------------------------------------------

_EXAMS = (
    Exam(
        "gastric_xray", "胃がん(X線)", "胃X線",
        (
            _code("xray_category", "胃部エックス線検査の判定区分", GASTRIC_XRAY_CATEGORIES, decides=True,
                  paper=GASTRIC_XRAY_PAPER),
            _text("xray_findings", "胃部エックス線検査の所見", 200),
            _referral("胃がん検診の精密検査の対象有無", derived=True),
        ),
        report_category="53",
        referral_rule=_gastric_xray_rule,
        referral_outcome=_by_referral_item,
        pending_rule=_pending_when(xray_category=("0",)),  # 判定不能
        referral_messages=("判定区分0（判定不能）・1・2は精検の対象外(0)です", "判定区分3a以上は要精検(1)です"),
    ),
    Exam(
        "gastric_endoscopy", "胃がん(内視鏡)", "胃内視鏡",
        (
            _code("endoscopy_result", "胃内視鏡の判定区分", ENDOSCOPY_RESULTS, decides=True,
                  paper=ENDOSCOPY_PAPER),
            _text("endoscopy_findings", "胃内視鏡の所見", 200),
            _referral("胃がん検診の精密検査の対象有無", derived=True),
            _text("other_findings", "胃がん検診のその他の所見", 200),
        ),
        report_category="53",
        referral_rule=_gastric_endoscopy_rule,
        referral_outcome=_by_referral_item,
        referral_messages=("胃がんなしは精検の対象外(0)です", "胃がん疑い・胃がんは要精検(1)です"),
    ),
    Exam(
        "colorectal", "大腸がん", "大腸",
        (
            _code("fobt_result", "便潜血検査の判定区分", FOBT_RESULTS, decides=True, paper=FOBT_PAPER),
            _referral("大腸がん検診の精密検査の対象有無", derived=True),
        ),
        report_category="55",
        referral_rule=_colorectal_rule,
        referral_outcome=_by_referral_item,
        pending_rule=_pending_when(fobt_result=("undetermined",)),  # 判定不能
        referral_messages=("便潜血陰性・判定不能は精検の対象外(0)です", "便潜血陽性は要精検(1)です"),
    ),
    Exam(
        "lung", "肺がん", "肺",
        (
            _flag("symptoms", "肺がんに係る症状", summary=False),
            _code("xray_grade", "胸部エックス線検査時の判定区分", LUNG_XRAY_GRADES, decides=True,
                  paper=LUNG_XRAY_PAPER),
            _code("sputum_class", "喀痰検査時の判定区分", SPUTUM_CLASSES, required=False, decides=True,
                  blank_means="未実施", paper=SPUTUM_PAPER),
            _referral("肺がん検診の精密検査対象区分", derived=True),
            _text("other_findings", "肺がん疑い以外の所見", 200),
        ),
        report_category="51",
        referral_rule=_lung_rule,
        referral_outcome=_by_referral_item,
        # 読影不能, 材料不適, 再検査 (肺がん検診の手引き: C calls for a retest, not a referral)
        pending_rule=_pending_when(xray_grade=("A",), sputum_class=("A", "C")),
        referral_messages=(
            "胸部エックス線E1・E2、喀痰D・Eのいずれもなければ精検の対象外(0)です",
            "胸部エックス線E1・E2または喀痰D・Eは要精検(1)です",
        ),
    ),
    Exam(
        "breast", "乳がん", "乳",
        (
            _code("mammography_category", "マンモグラフィ検査時の判定区分", MAMMOGRAPHY_CATEGORIES, decides=True,
                  paper=MAMMOGRAPHY_PAPER),
            _text("mammography_findings", "マンモグラフィ検査の所見", 200),
            _referral("乳がん検診の精密検査の対象区分", derived=True),
        ),
        report_category="52",
        sex=WOMEN,
        referral_rule=_breast_rule,
        referral_outcome=_by_referral_item,
        pending_rule=_pending_when(mammography_category=("N",)),  # 判定不能
        referral_messages=("カテゴリー1・2・N（判定不能）は精検の対象外(0)です", "カテゴリー3以上は要精検(1)です"),
    ),
    Exam(
        "cervical", "子宮がん", "子宮",
        (
            _flag("symptoms", "子宮頸がんに係る症状", summary=False),
            _code("hpv_result", "HPV検査の結果", HPV_RESULTS, required=False, decides=True,
                  blank_means="未実施", extension=HPV_PRIMARY, paper=POS_NEG_PAPER),
            _code("hpv_triage", "トリアージ細胞診の結果", HPV_TRIAGE, required=False, decides=True,
                  extension=HPV_PRIMARY, paper=HPV_TRIAGE_PAPER),
            _code("hpv_followup", "追跡検査の対象", NONE_ANY, required=False, extension=HPV_PRIMARY,
                  paper=NONE_ANY_PAPER),
            _referral("子宮頸がん検診精密検査の対象区分", derived=False),
        ),
        report_category="54",
        sex=WOMEN,
        referral_outcome=_by_referral_item,
        checks=(_hpv_check,),
    ),
    Exam(
        "periodontal", "歯周病", "歯周病",
        (
            _code("brushing_frequency", "1日で歯を磨く頻度の区分",
                  {"0": "0回", "1": "1回", "2": "2回", "3": "3回以上"}, summary=False),
            _code("smoking", "喫煙歴の区分", {"0": "なし", "1": "あり", "2": "禁煙"}, summary=False),
            _flag("diabetes", "糖尿病の罹患区分", summary=False),
            _flag("rheumatoid_arthritis", "関節リウマチの罹患区分", summary=False),
            _flag("cardiovascular", "狭心症・心筋梗塞・脳梗塞の罹患区分", summary=False),
            _flag("visceral_obesity", "内臓脂肪型肥満の区分", summary=False),
            _flag("pregnancy", "妊娠の区分", summary=False),
            _text("other_condition", "その他の全身の状態", 100, summary=False),
            _flag("cpi_bleeding", "歯周疾患検査結果（CPI 歯肉出血）", CPI_BLEEDING, paper=CPI_BLEEDING_PAPER),
            _flag("cpi_pocket", "歯周疾患検査結果（CPI 歯周ポケット）", CPI_POCKET, paper=CPI_POCKET_PAPER),
            _code("judgement", "歯周疾患検診の判定区分", JUDGEMENT_CODES, decides=True, paper=JUDGEMENT_PAPER),
        ),
        report_category="58",
        referral_outcome=_by_judgement,
        checks=(_pregnancy_check,),
    ),
    Exam(
        "osteoporosis", "骨粗鬆症", "骨粗鬆症",
        (
            _number("weight_kg", "体重", 20, 200, "kg", summary=False),
            _number("height_cm", "身長", 100, 220, "cm", summary=False),
            _flag("fracture_history", "骨折歴", summary=False),
            _text("fracture_site", "骨折部位", 100, summary=False),
            _flag("family_hip_fracture", "大腿骨近位部骨折の家族歴区分", summary=False),
            _flag("smoking", "喫煙習慣区分", summary=False),
            _flag("steroid", "ステロイド内服", summary=False),
            _code("menstruation", "月経・閉経の有無", {"1": "月経あり", "2": "閉経"}, summary=False),
            _code("method", "測定方法",
                  {"DXA": "DXA法", "MD": "MD法", "QUS": "超音波法（QUS）", "CT": "CT法（QCT）"},
                  paper={"DXA": ("DXA法", "DXA"), "MD": ("MD法", "MD"), "QUS": ("超音波法", "QUS"),
                         "CT": ("CT法", "QCT")}),
            _number("bone_density", "骨密度", 30, 150, "%YAM"),
            _code("judgement", "骨粗鬆症検診の判定区分", JUDGEMENT_CODES, decides=True, paper=JUDGEMENT_PAPER),
        ),
        report_category="57",
        sex=WOMEN,
        checks=(_fracture_site_check,),
        referral_outcome=_by_judgement,
        cautions=(_low_density_judged_normal,),
    ),
    Exam(
        "hepatitis", "肝炎ウイルス検査", "肝炎",
        (
            _flag("surgery_history", "手術経験", summary=False),
            _code("hbs_antigen", "B型肝炎ウイルス検査の判定区分", POS_NEG, decides=True, paper=POS_NEG_PAPER),
            _code("hcv_judgement", "C型肝炎ウイルス検査の判定区分",
                  {"low": "感染している可能性が低い", "high": "感染している可能性が高い"}, decides=True,
                  paper={"low": ("可能性が低い", "感染している可能性が低い", "低い", "1"),
                         "high": ("可能性が高い", "感染している可能性が高い", "高い", "2")}),
        ),
        report_category="56",
        referral_outcome=_by_hepatitis_results,
    ),
    Exam(
        "followup", "精密検査(胃・肺・大腸・子宮・乳)", "精検",
        (),
        has_target=True,
        followup=True,
        checks=(_women_only_target_check,),
    ),
    Exam(
        "periodontal_followup", "精密検査(歯周病)", "歯周病精検",
        # The 精検 result is this exam's result item: a second keying verifies it (LESSONS.md #4).
        (_text("result", "精密検査結果", 200, required=True, decides=True),),
        report_category="58",
        followup=True,
    ),
)

EXAMS: Mapping[str, Exam] = MappingProxyType({exam.code: exam for exam in _EXAMS})


def get_exam(code: str) -> Exam:
    """The exam with this code; NotFound for an unknown code."""
    try:
        return EXAMS[code]
    except (KeyError, TypeError):
        raise NotFound(f"検診の種類が不正です: {code}") from None


def item_keys_of_all_exams() -> frozenset[str]:
    """Every per-exam column name (shared names such as `referral` appear once), `target` included."""
    return frozenset(key for exam in EXAMS.values() for key in exam.keys)


def verified_items(exam_code: str, all_items: bool = False, enabled: Collection[str] = ()) -> tuple[str, ...]:
    """Keys a second (verify) keying must match: 要精検-deciding items, plus `target`; or every item."""
    exam = get_exam(exam_code)
    if all_items:
        return exam.keys_with(enabled)
    return tuple(item.key for item in exam.fields_with(enabled)
                 if item.decides_referral or item is TARGET_ITEM)


def _add(errors: dict[str, list[str]], key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


def validate_items(
    exam_code: str, raw: Mapping[str, str | None], sex: int | str | None = None,
    enabled: Collection[str] = (),
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Check one exam's raw item strings; return (clean items, errors by key).

    Every key of the exam is in the clean dict (blank optional items as ""), and a blank
    `referral` is filled in from the exam's rule. The clean dict is only meaningful when
    errors is empty. Non-blank values under keys that are not this exam's are errors;
    blank ones are ignored. Items of an Extension count only when its code is in `enabled`
    (kenshin.screening.extensions.enabled_codes()); a value for one that is off is refused.
    """
    exam = get_exam(exam_code)
    errors: dict[str, list[str]] = {}
    sex_text = ascii_text(str(sex)) if sex is not None else ""
    sex_code = int(sex_text) if sex_text in ("1", "2") else None
    if exam.sex is not None and sex_text and sex_text != str(exam.sex):
        _add(errors, "-", "女性のみの検診です")
    fields = exam.fields_with(enabled)
    in_use = {item.key for item in fields}
    for key, value in raw.items():
        if key not in in_use and ascii_text(value):
            outside = next((i.extension for i in exam.all_fields if i.key == key and i.extension), None)
            if outside:
                _add(errors, key, OUTSIDE_ASSESSMENT.format(title=EXTENSIONS[outside].title))
            else:
                _add(errors, key, f"{exam.name}の項目ではありません")

    clean: dict[str, str] = {}
    bad: set[str] = set()
    for item in fields:
        if item.key == "referral" and exam.referral_derivable:
            continue  # checked against the rule below
        try:
            clean[item.key] = item.clean(raw.get(item.key))
        except _Bad as problem:
            bad.add(item.key)
            _add(errors, item.key, str(problem))

    for check in exam.checks:
        for key, messages in check(clean, sex_code).items():
            if key not in bad:
                bad.add(key)
                for message in messages:
                    _add(errors, key, message)

    if exam.referral_derivable:
        referral = exam.item("referral")
        derived = exam.referral_rule(clean)  # None while the items it reads are invalid
        try:
            given = referral.clean(raw.get("referral"))
        except _Bad as problem:
            _add(errors, "referral", str(problem))
        else:
            if given and derived is not None and given != ("1" if derived else "0"):
                _add(errors, "referral", exam.referral_messages[1 if derived else 0])
            if given:
                clean["referral"] = given
            elif derived is not None:
                clean["referral"] = "1" if derived else "0"
            else:
                clean["referral"] = ""
    return {item.key: clean[item.key] for item in fields if item.key in clean}, errors


def read_paper(exam_code: str, raw: Mapping[str, str | None]) -> tuple[dict, dict[str, list[str]]]:
    """What a clerk typed from a paper form into the catalogue's codes: (values, errors by key).

    Each coded item accepts its codes and the forms it declares (Item.paper: 陰性/陽性/－/＋/(－)/
    (＋)/1/2, 異常認めず/要指導/要精検 …, full- or half-width); a recognised value is replaced by
    its code, other values are left as typed. A value that reads as no code is an error listing
    the accepted forms. Every screen that keys results (entry, correction, second keying) reads
    through this before validate_items; files do not (FORMATS.md: the codes only)."""
    exam = get_exam(exam_code)
    values: dict = dict(raw)
    errors: dict[str, list[str]] = {}
    for item in exam.all_fields:
        text = values.get(item.key)
        if item.kind != "code" or not ascii_text(text):
            continue
        code = item.from_paper(text)
        if code is None:
            errors[item.key] = [f"「{text.strip()}」は読めません（{item.paper_list()}のいずれか）"]
        else:
            values[item.key] = code
    return values, errors


def as_paper(exam_code: str, clean_items: Mapping[str, str]) -> dict[str, str]:
    """Stored items as the paper writes them, to fill a form a clerk corrects (read_paper reads
    them back to the same codes)."""
    exam = get_exam(exam_code)
    fields = {item.key: item for item in exam.all_fields}
    return {key: fields[key].written(value) if key in fields else value for key, value in clean_items.items()}


def cautions(exam_code: str, clean_items: Mapping[str, str]) -> list[str]:
    """Warnings about valid items that look wrong together (shown, never refused)."""
    exam = get_exam(exam_code)
    return [message for caution in exam.cautions for message in caution(clean_items)]


def age_cautions(exam_code: str, clean_items: Mapping[str, str], age: int | None) -> list[str]:
    """Items of an Extension recorded for someone younger than it is meant for (shown, not refused)."""
    if age is None:
        return []
    exam = get_exam(exam_code)
    out = []
    for code in dict.fromkeys(i.extension for i in exam.all_fields if i.extension and clean_items.get(i.key)):
        extension = EXTENSIONS[code]
        if extension.min_age is not None and age < extension.min_age:
            out.append(f"{extension.title}は{extension.min_age}歳以上が対象です（受診時{age}歳）")
    return out


def referral_flag(exam_code: str, clean_items: Mapping[str, str]) -> bool:
    """The screening's 要精検 flag (FORMATS.md), by the rule the exam declares."""
    return get_exam(exam_code).referral_flag(clean_items)


def display_items(
    exam_code: str, clean_items: Mapping[str, str], summary_only: bool = False
) -> list[tuple[str, str]]:
    """(Japanese label, display value) per item in form order, for the person page and prints."""
    exam = get_exam(exam_code)
    return [
        (item.label, item.display(clean_items.get(item.key)))
        for item in exam.all_fields
        if (item.summary or not summary_only)
        and (item.extension is None or clean_items.get(item.key))  # beyond 別添1: only when held
    ]
