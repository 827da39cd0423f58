"""database.prepared: a peewee query compiled once runs with each call's own values."""
from datetime import date

import pytest

import database
import models

from .factories import make_resident


def _by_birth(resident_id, born_by):
    return (models.Resident.select()
            .where((models.Resident.id == resident_id) & (models.Resident.birth_date <= born_by))
            .order_by(models.Resident.id))


def test_each_call_gets_its_own_values(app, db):
    first = make_resident("000000000001", "山田 太郎", "ヤマダ タロウ", 1)
    second = make_resident("000000000002", "佐藤 花子", "サトウ ハナコ", 2)
    late = date(2100, 1, 1)
    for person in (first, second, first):
        rows = list(database.prepared("test.by_birth", _by_birth, person.id, late))
        assert [r.atena_no for r in rows] == [person.atena_no]  # a model, as the query gives
    assert list(database.prepared("test.by_birth", _by_birth, first.id, date(1800, 1, 1))) == []


def test_an_argument_that_never_reaches_the_sql_is_refused(app, db):
    with pytest.raises(ValueError):
        database.prepared("test.unused", lambda resident_id: models.Resident.select(), 5)
