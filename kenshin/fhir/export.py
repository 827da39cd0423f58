"""A person's screening history as IG bundles: one bundle per screening (a .zip for several), for
the person's own request (開示) or the office of the city they moved to (転出先).

Every coded item carries the IG's coding and, beside it, the catalogue's own (mapping
.CATALOGUE_SYSTEM), so the import reads back exactly what was stored (round trip). The Patient
carries the 宛名番号 (mapping.ATENA_SYSTEM). Audited like any export, with the file's SHA-256.
"""
from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile

from fhir.resources.R4B.bundle import Bundle

from models import Institution, Resident, Screening, db

from kenshin import audit
from kenshin.registry import residents
from kenshin.core.dates import now_utc
from kenshin.core.errors import NotFound
from kenshin.fhir import ig, mapping
from kenshin.screening import catalogue
from kenshin.screening.screenings import VOID

ACTION = "fhir.export"
PURPOSES = {"disclosure": "本人開示", "transfer": "転出先への提供"}
_NS = uuid.UUID("6f1d3a52-7a61-4c55-9c2e-2f35b8f1a001")


def _url(*parts) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_NS, "/".join(str(p) for p in parts)))


def _category(screening: Screening) -> tuple[str, str]:
    if screening.exam == "followup":
        return mapping.TARGET_CATEGORY[screening.target], "2"
    if screening.exam == "periodontal_followup":
        return "58", "2"
    return mapping.EXAM_CATEGORY[screening.exam], "1"


def _observation(url, code, name, value: dict) -> dict:
    return {"fullUrl": url, "resource": {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": ig.JLAC10_SYSTEM, "code": code, "display": name}]},
        **value}}


def _items(screening: Screening) -> list[tuple[str, dict]]:
    """(JLAC10 code, value[x]) of each stored item."""
    exam, items = screening.exam, screening.items or {}
    out = []
    if exam == "periodontal_followup":
        if items.get("result"):
            out.append((mapping.PERIODONTAL_FOLLOWUP_FINDINGS, {"valueString": items["result"]}))
        return out
    for key, code in mapping.stored_for(exam).items():
        value = items.get(key, "")
        if value in ("", None):
            continue
        if key == "bone_density":
            method = {v: k for k, v in mapping.METHODS.items()}[items["method"]]
            out.append((method, {"valueQuantity": {"value": float(value), "unit": "%YAM",
                                                   "system": "http://unitsofmeasure.org", "code": "%"}}))
            continue
        kind = ig.ITEMS[code][3]
        if kind == "code":
            codings = []
            ig_code = mapping.ig_code_for(code, value)
            system = ig.ITEMS[code][4]
            if ig_code is not None:
                codings.append({"system": system, "code": ig_code, "display": ig.CODE_SYSTEMS[system][ig_code]})
            label = catalogue.EXAMS[exam].item(key).codes.get(value, value)
            codings.append({"system": mapping.catalogue_system(exam, key), "code": value, "display": label})
            out.append((code, {"valueCodeableConcept": {"coding": codings}}))
        elif kind == "number":
            unit = catalogue.EXAMS[exam].item(key).unit
            out.append((code, {"valueQuantity": {"value": float(value), "unit": unit,
                                                 "system": "http://unitsofmeasure.org", "code": unit}}))
        else:
            out.append((code, {"valueString": value}))
    return out


def bundle_of(screening: Screening, person: Resident, institution: Institution) -> dict:
    """One IG document (JP_Bundle_eMunicipalCheckup) for one screening, validated as FHIR R4."""
    category, checkup_type = _category(screening)
    sid = screening.id
    composition, patient, org, encounter = (_url(sid, n) for n in ("composition", "patient", "org", "encounter"))
    observations = [(_url(sid, "obs", code), code, value) for code, value in _items(screening)]
    date_text = screening.exam_date.isoformat()
    doc = {
        "resourceType": "Bundle", "meta": {"profile": [ig.BUNDLE_PROFILE]},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": _url(sid, "bundle")},
        "type": "document", "timestamp": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "entry": [
            {"fullUrl": composition, "resource": {
                "resourceType": "Composition", "status": "final",
                "type": {"coding": [{"system": ig.DOC_TYPE_SYSTEM, "code": "xx", "display": "自治体検診結果報告書"}]},
                "category": [{"coding": [{"system": ig.REPORT_CATEGORY_SYSTEM, "code": category,
                                          "display": ig.REPORT_CATEGORIES[category]}]}],
                "subject": {"reference": patient}, "date": now_utc().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "author": [{"reference": org}], "custodian": {"reference": org},
                "title": "自治体検診結果報告書",
                "event": [{"code": [{"coding": [{"system": ig.CHECKUP_TYPE_SYSTEM, "code": checkup_type,
                                                 "display": ig.CHECKUP_TYPES[checkup_type]}]}],
                           "period": {"start": date_text, "end": date_text},
                           "detail": [{"reference": encounter}]}],
                "section": [{"title": "検査結果", "code": {"coding": [{"system": ig.SECTION_SYSTEM, "code": "01910"}]},
                             "entry": [{"reference": url} for url, _, _ in observations]}]
                if observations else []}},
            {"fullUrl": patient, "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": mapping.ATENA_SYSTEM, "value": person.atena_no}],
                "name": [{"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
                                         "valueCode": "IDE"}], "use": "official", "text": person.name},
                         {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
                                         "valueCode": "SYL"}], "use": "official", "text": person.name_kana}],
                "gender": "male" if person.sex == 1 else "female",
                "birthDate": person.birth_date.isoformat()}},
            {"fullUrl": org, "resource": {
                "resourceType": "Organization",
                "identifier": [{"system": ig.INSTITUTION_SYSTEM, "value": institution.code}],
                "name": institution.name}},
            {"fullUrl": encounter, "resource": {
                "resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://jpfhir.jp/fhir/eCheckup/CodeSystem/encounter-category",
                          "code": "checkup", "display": "健診"},
                "serviceType": {"coding": [{"system": ig.ENCOUNTER_TYPE_SYSTEM, "code": str(screening.setting),
                                            "display": ig.ENCOUNTER_TYPES.get(str(screening.setting), "")}]},
                "period": {"start": date_text, "end": date_text},
                "serviceProvider": {"reference": org}}},
            *[_observation(url, code, ig.ITEMS[code][0], value) for url, code, value in observations],
        ],
    }
    Bundle.model_validate(doc)  # what we send is FHIR R4 as the library reads it
    return doc


def history(resident_id: int, actor: audit.Actor, purpose: str) -> tuple[str, bytes]:
    """(file name, bytes): one .json for one screening, a .zip of them for several; audited."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
    person = residents.get_in_programme(resident_id)
    rows = list(Screening.select().where((Screening.resident == person.id) & (Screening.status != VOID))
                .order_by(Screening.exam_date, Screening.id))
    if not rows:
        raise NotFound("出力する受診記録がありません")
    institutions = {i.id: i for i in Institution.select().where(
        Institution.id.in_({r.institution_id for r in rows}))}
    files = [(f"screening-{r.exam_date.isoformat()}-{r.exam}-{r.id}.json",
              json.dumps(bundle_of(r, person, institutions[r.institution_id]), ensure_ascii=False,
                         indent=1).encode("utf-8")) for r in rows]
    if len(files) == 1:
        name, data = files[0]
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file_name, content in files:
                archive.writestr(file_name, content)
        name, data = f"screening-history-{person.id}.zip", buffer.getvalue()
    with db.atomic():
        audit.record(ACTION, actor, resident=person.id, object_type="resident", object_id=person.id,
                     details={"purpose": purpose, "bundles": len(files), "file": name,
                              "sha256": hashlib.sha256(data).hexdigest(),
                              "screenings": [r.id for r in rows]})
    return name, data
