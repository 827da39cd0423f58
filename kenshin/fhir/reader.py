"""Read one IG bundle into the rows the results import records or queues.

FORMATS.md "Clinic results as FHIR documents": a bundle is refused (Refusal, `FILE,
entry[N].resource.PATH: reason`) only when it is not such a document, an item Observation (or the
group Observation holding it) is not `final`, a code or code system is not the IG's for that item,
the provider's 医療機関コード is not registered, or a women-only exam names a man. Anything else
that keeps a value from mapping to exactly one catalogue code (a display that disagrees with its
code, a coarser IG code, a missing item) sends the screening to the queue with the reason.
Resources are parsed with fhir.resources (R4B models: the IG is R4; R4B is R4's data model).
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from kenshin.core.dates import DateError, parse_date
from kenshin.core.kana import kana_key
from kenshin.fhir import ig, mapping
from kenshin.imports import csvimport
from kenshin.screening import catalogue
from kenshin.screening.matching import FormIdentity
from kenshin.screening.screenings import NO_SETTING

SYL = "SYL"
IDE = "IDE"
REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
NOT_DOCUMENT = "自治体検診結果報告書（JP_Bundle_eMunicipalCheckup）のBundleではありません"
SEXES = {"male": 1, "female": 2}


class Refusal(Exception):
    """One reason a bundle is refused, at a place in it."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


@dataclass
class BundleRow:
    """One screening a bundle reports: what result_import needs, plus why it must wait, if it must."""

    exam: str
    target: str
    exam_date: date
    setting: int
    items: dict
    identity: FormIdentity
    institution_code: str
    institution_id: int
    place: str  # "entry[0].resource" of the Composition: where the clerk finds it
    queue_reasons: list[str] = field(default_factory=list)


@dataclass
class ReadBundle:
    rows: list[BundleRow]
    left_out: int


def _entry(i: int, path: str = "") -> str:
    return f"entry[{i}].resource" + (f".{path}" if path else "")


def _loc(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _norm(text: str | None) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split())


class _Bundle:
    """The parsed entries of one bundle, with lookups by fullUrl."""

    def __init__(self, data: bytes):
        try:
            doc = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            raise Refusal("-", "JSONとして読めません（" + NOT_DOCUMENT + "）") from None
        if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
            raise Refusal("resourceType", NOT_DOCUMENT)
        if doc.get("type") != "document":
            raise Refusal("type", NOT_DOCUMENT + "（type が document ではありません）")
        entries = doc.get("entry")
        if not isinstance(entries, list) or not entries:
            raise Refusal("entry", NOT_DOCUMENT + "（entry がありません）")
        self.resources = []
        self.by_url: dict[str, int] = {}
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            try:
                model = get_fhir_model_class(kind) if isinstance(kind, str) else None
            except KeyError:
                model = None
            if model is None:
                raise Refusal(_entry(i, "resourceType"), NOT_DOCUMENT + f"（リソースの種類が不正です: {kind}）")
            try:
                self.resources.append(model.model_validate(resource))
            except ValidationError as exc:
                first = exc.errors()[0]
                raise Refusal(_entry(i, _loc(first["loc"])),
                              NOT_DOCUMENT + f"（FHIR R4として不正です: {first['msg']}）") from None
            if isinstance(entry.get("fullUrl"), str):
                self.by_url[entry["fullUrl"]] = i
            if getattr(self.resources[-1], "id", None):
                self.by_url.setdefault(f"{kind}/{self.resources[-1].id}", i)

    def resolve(self, reference, kind: str, path: str) -> int:
        ref = getattr(reference, "reference", None) if reference is not None else None
        i = self.by_url.get(ref or "")
        if i is None or self.resources[i].get_resource_type() != kind:
            raise Refusal(path, NOT_DOCUMENT + f"（{kind} が見つかりません）")
        return i


def _category(bundle: _Bundle) -> tuple[str, str]:
    composition = bundle.resources[0]
    if composition.get_resource_type() != "Composition":
        raise Refusal(_entry(0, "resourceType"), NOT_DOCUMENT + "（最初のentryがCompositionではありません）")
    for c, concept in enumerate(composition.category or []):
        for k, coding in enumerate(concept.coding or []):
            if coding.system == ig.REPORT_CATEGORY_SYSTEM:
                if coding.code not in ig.REPORT_CATEGORIES:
                    raise Refusal(_entry(0, f"category[{c}].coding[{k}].code"),
                                  f"IGにない報告区分です: {coding.code}")
                kind = "3"
                for e, event in enumerate(composition.event or []):
                    for concept2 in event.code or []:
                        for coding2 in concept2.coding or []:
                            if coding2.system == ig.CHECKUP_TYPE_SYSTEM:
                                if coding2.code not in ig.CHECKUP_TYPES:
                                    raise Refusal(_entry(0, f"event[{e}].code"),
                                                  f"IGにない検診区分です: {coding2.code}")
                                kind = coding2.code
                return coding.code, kind
    raise Refusal(_entry(0, "category"), NOT_DOCUMENT + "（報告区分 51〜58 の category がありません）")


def _identity(bundle: _Bundle, i: int, reasons: list[str]) -> FormIdentity:
    patient = bundle.resources[i]
    sex = SEXES.get(patient.gender or "")
    if sex is None:
        raise Refusal(_entry(i, "gender"), NOT_DOCUMENT + "（性別 male/female がありません）")
    if patient.birthDate is None:
        raise Refusal(_entry(i, "birthDate"), NOT_DOCUMENT + "（生年月日がありません）")
    kana = name = ""
    for n, human in enumerate(patient.name or []):
        form = next((x.valueCode for x in human.extension or [] if x.url == REPRESENTATION), None)
        text = human.text or " ".join([human.family or "", *(human.given or [])])
        if form == SYL and not kana:
            try:
                kana = csvimport.kana(text)
            except ValueError as exc:
                raise Refusal(_entry(i, f"name[{n}].text"), f"カナ氏名が読めません: {exc}") from None
        elif form in (IDE, None) and not name:
            name = text.strip()[:60]
    if not kana:
        raise Refusal(_entry(i, "name"), NOT_DOCUMENT + "（カナ氏名（SYL）がありません）")
    seiri = atena = ""
    for n, ident in enumerate(patient.identifier or []):
        for system, convert in ((mapping.ATENA_SYSTEM, csvimport.atena_no),
                                (mapping.SEIRI_SYSTEM, csvimport.seiri_no)):
            if ident.system == system:
                try:
                    value = convert(ident.value or "")
                except ValueError as exc:
                    reasons.append(f"{_entry(i, f'identifier[{n}].value')}: {exc}")
                    continue
                if system == mapping.ATENA_SYSTEM:
                    atena = value
                else:
                    seiri = value
    return FormIdentity(seiri, atena, kana, kana_key(kana), patient.birthDate, sex, name)


def _institution(bundle: _Bundle, organization: int, institutions: dict[str, int]) -> tuple[str, int]:
    org = bundle.resources[organization]
    for n, ident in enumerate(org.identifier or []):
        if ident.system == ig.INSTITUTION_SYSTEM:
            code = (ident.value or "").strip()
            if code not in institutions:
                raise Refusal(_entry(organization, f"identifier[{n}].value"),
                              f"登録されていない医療機関です: {code}")
            return code, institutions[code]
    raise Refusal(_entry(organization, "identifier"), NOT_DOCUMENT + "（医療機関コードがありません）")


@dataclass
class _Value:
    """One IG item's value as found: where, the JLAC10 code, and what it says."""

    path: str
    code: str
    observation: object  # the Observation or component
    status_path: str | None = None


def _item_code(concept, path: str, category: str) -> str | None:
    """The JLAC10 (or group) code of an Observation; Refusal when it is not the IG's."""
    for k, coding in enumerate(concept.coding or [] if concept else []):
        if coding.system == ig.JLAC10_SYSTEM:
            row = ig.ITEMS.get(coding.code or "")
            if row is None:
                raise Refusal(f"{path}.coding[{k}].code", f"IGにないJLAC10コードです: {coding.code}")
            if row[1] != category:
                raise Refusal(f"{path}.coding[{k}].code",
                              f"報告区分{category}の項目ではありません: {coding.code}（{row[0]}）")
            return coding.code
        if coding.system == ig.GROUP_SYSTEM:
            if coding.code not in ig.GROUPS:
                raise Refusal(f"{path}.coding[{k}].code", f"IGにない一連検査グループコードです: {coding.code}")
            return None
    first = (concept.coding or [None])[0] if concept else None
    raise Refusal(f"{path}.coding[0].system",
                  f"IGにないコード体系です: {getattr(first, 'system', None) or '（なし）'}")


def _values(bundle: _Bundle, category: str) -> list[_Value]:
    found: list[_Value] = []
    for i, resource in enumerate(bundle.resources):
        if resource.get_resource_type() != "Observation":
            continue
        code = _item_code(resource.code, _entry(i, "code"), category)
        if resource.status != "final" and (code or resource.hasMember):
            what = "項目" if code else "項目をまとめるグループ"
            raise Refusal(_entry(i, "status"), f"{what}のObservationが final ではありません: {resource.status}")
        if code:
            found.append(_Value(_entry(i), code, resource))
        for c, component in enumerate(resource.component or []):
            sub = _item_code(component.code, _entry(i, f"component[{c}].code"), category)
            if sub:
                found.append(_Value(_entry(i, f"component[{c}]"), sub, component))
    return found


def _coded(value: _Value, exam: str | None, key: str | None) -> tuple[str | None, str | None, list[str]]:
    """(IG code, our catalogue code, slips) of a coded item; Refusal for a code not in the IG's list."""
    system = ig.ITEMS[value.code][4]
    concept = value.observation.valueCodeableConcept
    if concept is None:
        return None, None, [f"{value.path}: コードの値がありません"]
    ig_code = ours = None
    slips: list[str] = []
    for k, coding in enumerate(concept.coding or []):
        where = f"{value.path}.valueCodeableConcept.coding[{k}]"
        if coding.system == system:
            displays = ig.CODE_SYSTEMS[system]
            if coding.code not in displays:
                raise Refusal(f"{where}.code", f"IGのコード表（{system}）にないコードです: {coding.code}")
            ig_code = coding.code
            if coding.display and _norm(coding.display) != _norm(displays[coding.code]):
                slips.append(f"{where}.display: 表示「{coding.display}」がコード{coding.code}"
                             f"（{displays[coding.code]}）と違います")
        elif exam and key and coding.system == mapping.catalogue_system(exam, key):
            ours = coding.code
        elif (coding.system or "").startswith(mapping.CATALOGUE_SYSTEM + ":"):
            continue  # our coding for another exam of the category (gastric X-ray / endoscopy)
        else:
            raise Refusal(f"{where}.system", f"この項目のIGのコード体系ではありません: {coding.system}"
                          f"（{system}）")
    if ig_code is None and ours is None:
        raise Refusal(f"{value.path}.valueCodeableConcept.coding",
                      f"IGのコード表（{system}）のコードがありません")
    return ig_code, ours, slips


def _plain(value: _Value) -> tuple[str | None, str | None]:
    """(text, problem) of a string or number item."""
    obs = value.observation
    kind = ig.ITEMS[value.code][3]
    if kind == "number":
        quantity = obs.valueQuantity
        if quantity is not None and quantity.value is not None:
            return format(quantity.value, "f"), None
        if getattr(obs, "valueInteger", None) is not None:
            return str(obs.valueInteger), None
        return None, f"{value.path}: 数値がありません"
    if obs.valueString is not None:
        return obs.valueString, None
    return None, f"{value.path}: 文字列がありません"


def read(file_name: str, data: bytes, institutions: dict[str, int], today: date) -> ReadBundle:
    """Read one bundle; Refusal at the first reason FORMATS.md refuses it for."""
    bundle = _Bundle(data)
    category, checkup_type = _category(bundle)
    composition = bundle.resources[0]
    reasons: list[str] = []
    patient = bundle.resolve(composition.subject, "Patient", _entry(0, "subject"))
    identity = _identity(bundle, patient, reasons)
    encounter_index = None
    for e, event in enumerate(composition.event or []):
        for d, detail in enumerate(event.detail or []):
            encounter_index = bundle.resolve(detail, "Encounter", _entry(0, f"event[{e}].detail[{d}]"))
    if encounter_index is None:
        encounter_index = next((i for i, r in enumerate(bundle.resources)
                                if r.get_resource_type() == "Encounter"), None)
    if encounter_index is None:
        raise Refusal(_entry(0, "event"), NOT_DOCUMENT + "（受診（Encounter）がありません）")
    encounter = bundle.resources[encounter_index]
    provider = bundle.resolve(encounter.serviceProvider or composition.custodian, "Organization",
                              _entry(encounter_index, "serviceProvider"))
    institution_code, institution_id = _institution(bundle, provider, institutions)
    start = (encounter.period.start if encounter.period else None) or (
        composition.event[0].period.start if composition.event and composition.event[0].period else None)
    if start is None:
        raise Refusal(_entry(encounter_index, "period.start"), NOT_DOCUMENT + "（受診日がありません）")
    exam_date = start if isinstance(start, date) and not hasattr(start, "hour") else start.date()
    if exam_date > today:
        reasons.append(f"{_entry(encounter_index, 'period.start')}: 受診日が未来の日付です")
    if exam_date < identity.birth_date:
        reasons.append(f"{_entry(encounter_index, 'period.start')}: 受診日が生年月日より前です")
    setting = NO_SETTING  # allowed on 精密検査 records only (別添1 lists no 検診種別 for them)
    for concept in [encounter.serviceType] if encounter.serviceType else []:
        for coding in concept.coding or []:
            if coding.system == ig.ENCOUNTER_TYPE_SYSTEM and coding.code in ig.ENCOUNTER_TYPES:
                setting = int(coding.code)
    exams, target = mapping.CATEGORY_EXAMS[category]
    women_only = any(catalogue.EXAMS[e].sex == catalogue.WOMEN for e in exams)
    if women_only and identity.sex != catalogue.WOMEN:
        raise Refusal(_entry(patient, "gender"), catalogue.EXAMS[exams[0]].name + "は女性のみの検診です（男性には記録できません）")

    values = _values(bundle, category)
    items: dict[str, dict[str, str]] = {exam: {} for exam in exams}
    slips: dict[str, list[str]] = {exam: [] for exam in exams}
    present: set[str] = set()
    left_out = 0
    followup_seen = False
    followup_text: list[str] = []
    seen_codes: set[str] = set()
    for value in values:
        row = ig.ITEMS[value.code]
        stored = mapping.STORED.get(value.code)
        if value.code in seen_codes and stored is not None:
            for exam in stored.exams:
                slips[exam].append(f"{value.path}: 同じ項目が二度あります（{row[0]}）")
        seen_codes.add(value.code)
        if row[2] == 2:
            followup_seen = True
        if value.code in (mapping.PERIODONTAL_FOLLOWUP_RESULT, mapping.PERIODONTAL_FOLLOWUP_FINDINGS):
            if row[3] == "code":
                ig_code, _, _ = _coded(value, None, None)
                if ig_code:
                    followup_text.insert(0, ig.CODE_SYSTEMS[row[4]][ig_code])
            else:
                text, _ = _plain(value)
                if text:
                    followup_text.append(text)
            continue
        if stored is None and value.code in mapping.METHODS:
            text, problem = _plain(value)
            items["osteoporosis"]["method"] = mapping.METHODS[value.code]
            if problem:
                slips["osteoporosis"].append(problem)
            else:
                items["osteoporosis"]["bone_density"] = text
            present.add("osteoporosis")
            continue
        if stored is None:
            if row[3] == "code":
                _coded(value, None, None)  # a code not in the IG's list refuses; a slip here is ignored
            left_out += 1
            continue
        owners = [exam for exam in stored.exams if exam in items]
        if row[3] == "code":
            for exam in owners:
                ig_code, ours, found_slips = _coded(value, exam, stored.key)
                slips[exam].extend(found_slips)
                mapped = stored.codes.get(ig_code) if ig_code is not None else None
                if ours is not None and (ig_code is None
                                         or mapping.ig_code_for(value.code, ours) == ig_code):
                    mapped = ours  # our own coding, consistent with the IG's
                elif ours is not None:
                    slips[exam].append(f"{value.path}: 市のコード{ours}がIGのコード{ig_code}と合いません")
                if mapped is None and ig_code is not None:
                    slips[exam].append(f"{value.path}: IGのコード{ig_code}（{ig.CODE_SYSTEMS[row[4]][ig_code]}）"
                                       f"に当たる台帳のコードが一つに決まりません")
                else:
                    items[exam][stored.key] = mapped or ""
        else:
            text, problem = _plain(value)
            for exam in owners:
                if problem:
                    slips[exam].append(problem)
                else:
                    items[exam][stored.key] = text
        if stored.key != "referral":
            present.update(owners)

    rows: list[BundleRow] = []
    place = _entry(0)
    if checkup_type in ("1", "3"):
        chosen = [exam for exam in exams if exam in present] or [exams[0]]
        for exam in chosen:
            reasons_here = list(reasons) + slips[exam]
            if setting == NO_SETTING:
                reasons_here.append(f"{_entry(encounter_index, 'serviceType')}: 検診種別（個別・集団）がありません")
            clean, errors = catalogue.validate_items(exam, items[exam], identity.sex)
            for key, messages in errors.items():
                reasons_here.append(f"{catalogue.EXAMS[exam].name} {key}: {'、'.join(messages)}")
            rows.append(BundleRow(exam, "", exam_date, setting, clean if not errors else dict(items[exam]),
                                  identity, institution_code, institution_id, place, reasons_here))
    if checkup_type == "2" or (checkup_type == "3" and followup_seen):
        if target:
            rows.append(BundleRow("followup", target, exam_date, setting, {"target": target}, identity,
                                  institution_code, institution_id, place, list(reasons)))
        elif category == "58":
            result = " ".join(followup_text)
            row_reasons = list(reasons)
            if not result:
                row_reasons.append(f"{place}: 歯周疾患の精密検査結果がありません")
            rows.append(BundleRow("periodontal_followup", "", exam_date, setting, {"result": result},
                                  identity, institution_code, institution_id, place, row_reasons))
    return ReadBundle(rows, left_out)
