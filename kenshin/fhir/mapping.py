"""What the catalogue makes of the IG's items: the one place that maps JLAC10 codes to catalogue
items and the IG's code lists to the catalogue's codes (docs/FHIR.md prints it).

Derived from kenshin.fhir.ig (the IG's item table and code systems) and kenshin.screening
.catalogue. An IG code that maps to no single catalogue code maps to AMBIGUOUS: such a screening
waits in the reconciliation queue (FORMATS.md "Clinic results as FHIR documents"). Every other
IG item (ig.ITEMS not in STORED) is left out and counted (`left_out=N`).

The export writes the IG coding and, beside it, a coding of CATALOGUE_SYSTEM carrying the
catalogue's own code (e.g. lung `E1` where the IG has only `E`): the import reads that coding
first when it agrees with the IG's, so a round trip loses nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from kenshin.fhir import ig

AMBIGUOUS = None  # an IG code that no single catalogue code matches: queue
CATALOGUE_SYSTEM = "urn:kenshin:catalogue"  # + ":" + exam + ":" + item key (our own codes)
ATENA_SYSTEM = "urn:kenshin:atena-no"  # 宛名番号 as Patient.identifier.system (docs/FHIR.md)
SEIRI_SYSTEM = "urn:kenshin:seiri-no"  # 整理番号 printed on the 受診券

# report category -> (primary exam codes, followup target, follow-up exam)
CATEGORY_EXAMS: Mapping[str, tuple[tuple[str, ...], str | None]] = MappingProxyType({
    "51": (("lung",), "lung"),
    "52": (("breast",), "breast"),
    "53": (("gastric_xray", "gastric_endoscopy"), "gastric"),
    "54": (("cervical",), "cervical"),
    "55": (("colorectal",), "colorectal"),
    "56": (("hepatitis",), None),
    "57": (("osteoporosis",), None),
    "58": (("periodontal",), None),
})
EXAM_CATEGORY = MappingProxyType({exam: category for category, (exams, _) in CATEGORY_EXAMS.items()
                                  for exam in exams})
TARGET_CATEGORY = MappingProxyType({target: category for category, (_, target) in CATEGORY_EXAMS.items()
                                    if target})


@dataclass(frozen=True)
class Stored:
    """One IG item stored as one catalogue item: `codes` maps the IG code to the catalogue code."""

    exams: tuple[str, ...]
    key: str
    codes: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "codes", MappingProxyType(dict(self.codes)))


NO_YES_2051 = {"1": "0", "2": "1"}  # なし / あり
NO_YES_2052 = {"1": "0", "2": "1", "9": AMBIGUOUS}  # なし / あり / わからない
YES_NO_2054 = {"1": "1", "2": "0", "9": AMBIGUOUS}  # はい / いいえ / わからない
REFERRAL_LIST = {"1": "0", "2": "1", "9": ""}  # 精密検査不要 / 要精密検査 / 判定不能 (blank: the rule)

STORED: Mapping[str, Stored] = MappingProxyType({
    # 51 肺がん
    "9P501000000000011": Stored(("lung",), "symptoms", NO_YES_2052),
    "9P502000000000011": Stored(("lung",), "xray_grade",
                                {"1": "B", "2": "C", "3": AMBIGUOUS, "4": AMBIGUOUS, "9": "A"}),
    "7A030000006144311": Stored(("lung",), "sputum_class", {"1": "B", "2": "C", "3": "D", "4": "E", "9": "A"}),
    "9P504000000000011": Stored(("lung",), "referral", REFERRAL_LIST),
    "9P505160800000049": Stored(("lung",), "other_findings"),
    # 52 乳がん
    "9N281000000000011": Stored(("breast",), "mammography_category",
                                {"1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "9": "N", "99": "N"}),
    "9N281160800000049": Stored(("breast",), "mammography_findings"),
    "9P522000000000011": Stored(("breast",), "referral", REFERRAL_LIST),
    # 53 胃がん: the X-ray and endoscopy findings are 所見なし/所見あり only
    "9P542160700000011": Stored(("gastric_xray",), "xray_category", {"1": "1", "2": AMBIGUOUS}),
    "9P543160800000049": Stored(("gastric_xray",), "xray_findings"),
    "9P544160700000011": Stored(("gastric_endoscopy",), "endoscopy_result", {"1": "none", "2": AMBIGUOUS}),
    "9P545160800000049": Stored(("gastric_endoscopy",), "endoscopy_findings"),
    "9P546000000000011": Stored(("gastric_xray", "gastric_endoscopy"), "referral", REFERRAL_LIST),
    "9P547160800000049": Stored(("gastric_endoscopy",), "other_findings"),
    # 54 子宮頸がん
    "9P561000000000011": Stored(("cervical",), "symptoms", NO_YES_2052),
    "9P562000000000011": Stored(("cervical",), "referral", {"1": "0", "2": "1", "9": AMBIGUOUS}),
    # 55 大腸がん
    "1B040000001599811": Stored(("colorectal",), "fobt_result",
                                {"1": "negative", "2": "positive", "9": "undetermined"}),
    "9P582000000000011": Stored(("colorectal",), "referral", REFERRAL_LIST),
    # 56 肝炎ウイルス
    "9P602000000000011": Stored(("hepatitis",), "surgery_history", YES_NO_2054),
    "9P615000000000011": Stored(("hepatitis",), "hbs_antigen", {"1": "negative", "2": "positive", "9": AMBIGUOUS}),
    "9N401000000000011": Stored(("hepatitis",), "hcv_judgement", {"1": "low", "2": "high", "9": AMBIGUOUS}),
    # 57 骨粗鬆症 (method and bone_density come from the %YAM item of the test's group: METHODS)
    "9N006000000000001": Stored(("osteoporosis",), "weight_kg"),
    "9N001000000000001": Stored(("osteoporosis",), "height_cm"),
    "9P622000000000011": Stored(("osteoporosis",), "fracture_history", NO_YES_2051),
    "9P623160800000049": Stored(("osteoporosis",), "fracture_site"),
    "9P624000000000011": Stored(("osteoporosis",), "family_hip_fracture", NO_YES_2052),
    # 喫煙習慣: never / quit / smoking now → the catalogue's 0/1 habit now
    "9P625000000000011": Stored(("osteoporosis",), "smoking", {"1": "0", "2": "0", "3": "1"}),
    # ステロイド: never / in the past / now — "in the past" is no single catalogue code
    "9P627000000000011": Stored(("osteoporosis",), "steroid", {"1": "0", "2": AMBIGUOUS, "3": "1"}),
    # 月経: regular / sometimes → 月経あり; none for a year or more → 閉経
    "9P631000000000011": Stored(("osteoporosis",), "menstruation", {"1": "1", "2": "1", "3": "2"}),
    "9P637000000000011": Stored(("osteoporosis",), "judgement",
                                {"1": "normal", "2": "guidance", "3": "referral", "9": AMBIGUOUS}),
    # 58 歯周疾患 (CPI: the 最大値 items)
    "9P650000000000011": Stored(("periodontal",), "brushing_frequency", {"1": "3", "2": "2", "3": "1", "4": "0"}),
    "9P653000000000011": Stored(("periodontal",), "smoking", {"1": "0", "2": "2", "3": "1"}),
    "9P657000000000011": Stored(("periodontal",), "diabetes", NO_YES_2051),
    "9P658000000000011": Stored(("periodontal",), "rheumatoid_arthritis", NO_YES_2051),
    "9P659000000000011": Stored(("periodontal",), "cardiovascular", NO_YES_2051),
    "9P660000000000011": Stored(("periodontal",), "visceral_obesity", NO_YES_2051),
    "9P661000000000011": Stored(("periodontal",), "pregnancy", NO_YES_2051),
    "9P662160800000049": Stored(("periodontal",), "other_condition"),
    "9P676000000000011": Stored(("periodontal",), "cpi_bleeding", {"0": "0", "1": "1", "9": "9", "X": "X"}),
    "9P683000000000011": Stored(("periodontal",), "cpi_pocket", {"0": "0", "1": "1", "2": "2", "9": "9", "X": "X"}),
    "9P690000000000011": Stored(("periodontal",), "judgement",
                                {"1": "normal", "2": "guidance", "3": "referral", "9": AMBIGUOUS}),
})

# 骨粗鬆症: the %YAM item of each test group → the catalogue's `method`, stored as bone_density
METHODS: Mapping[str, str] = MappingProxyType({
    "9Z507195600000001": "DXA", "9Z531195600000001": "MD",
    "9Z536195600000001": "CT", "9Z541195600000001": "QUS",
})
# 精密検査 items (stage 2) whose presence records the 精検 visit; periodontal's are its result text
FOLLOWUP_ITEMS = frozenset(code for code, row in ig.ITEMS.items() if row[2] == 2)
PERIODONTAL_FOLLOWUP_RESULT = "9P691000000000011"
PERIODONTAL_FOLLOWUP_FINDINGS = "9P692160800000049"


def stored_for(exam: str) -> dict[str, str]:
    """catalogue key → JLAC10 code for one exam (the export's direction)."""
    found = {entry.key: code for code, entry in STORED.items() if exam in entry.exams}
    if exam == "osteoporosis":
        found["bone_density"] = "(METHODS)"
    return found


def ig_code_for(code: str, catalogue_code: str) -> str | None:
    """The IG code an export writes for a catalogue code: the one IG code that maps to it, or,
    for codes the IG lumps together (lung E1/E2 → E), the IG code whose ambiguity covers it."""
    entry = STORED[code]
    exact = [ig_code for ig_code, mapped in entry.codes.items() if mapped == catalogue_code]
    if exact:
        return exact[0]
    return COVERS.get((code, catalogue_code))


# Catalogue codes finer than the IG's: which IG code they are written as (the catalogue coding
# beside it keeps the exact value). 判定不能 categories of the gastric X-ray have no IG code.
COVERS: Mapping[tuple[str, str], str] = MappingProxyType({
    **{("9P502000000000011", grade): "3" for grade in ("D1", "D2", "D3", "D4")},
    **{("9P502000000000011", grade): "4" for grade in ("E1", "E2")},
    **{("9P542160700000011", cat): "2" for cat in ("2", "3a", "3b", "4", "5")},
    **{("9P544160700000011", result): "2" for result in ("suspected", "cancer")},
})


def catalogue_system(exam: str, key: str) -> str:
    return f"{CATALOGUE_SYSTEM}:{exam}:{key}"
