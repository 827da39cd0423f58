"""Residents and screenings for tests that search and show people."""
from datetime import date

import models
from kenshin.core import dates
from kenshin.core.dates import now_utc, today_jst
from kenshin.core.kana import kana_key, normalize_kana
from kenshin.core.names import name_key

TODAY = today_jst()
ADULT = date(1982, 4, 1)


def make_resident(atena_no, name="山田　太郎", kana="ヤマダ　タロウ", sex=1, birth=ADULT, **extra):
    kana = normalize_kana(kana)
    values = dict(atena_no=atena_no, name=name, name_kana=kana, kana_key=kana_key(kana),
                  name_key=name_key(name), sex=sex, birth_date=birth, postal_code="260-0001",
                  address="千葉県千葉市中央区中央1丁目1番1号", updated_at=now_utc())
    values.update(extra)
    return models.Resident.create(**values)


def make_screening(resident, exam="colorectal", exam_date=None, status="confirmed", referral=False,
                   items=None):
    institution = models.Institution.get_or_none() or models.Institution.create(
        code="1210000001", name="千葉中央クリニック", updated_at=now_utc())
    exam_date = exam_date or TODAY
    return models.Screening.create(
        resident=resident, exam=exam, exam_date=exam_date, fiscal_year=dates.fiscal_year(exam_date),
        age=dates.age_at(resident.birth_date, exam_date), institution=institution, setting=1,
        referral=referral, items=items or {"fobt_result": "positive" if referral else "negative",
                                           "referral": "1" if referral else "0"},
        status=status, source="keyed", entered_at=now_utc())
