"""Matching (突合) exactly as FORMATS.md says, and the candidates the queue offers."""
from datetime import date, timedelta

import pytest

from kenshin.screening import matching
from kenshin.screening.matching import FormIdentity, PreloadedFinder, match, parse_identity

from .factories import issue_seiri, make_resident


def identity(**overrides):
    raw = {"seiri_no": "", "atena_no": "000000000001", "name": "千葉 花子", "name_kana": "ちば はなこ",
           "birth_date": "S35.5.10", "sex": "2"}
    raw.update(overrides)
    found, errors = parse_identity(raw, today=date(2025, 6, 1))
    assert not errors, errors
    return found


@pytest.fixture
def hanako(db):
    return make_resident()


def test_atena_no_with_agreeing_birth_sex_and_kana_matches(hanako):
    result = match(identity())
    assert result.matched and result.resident_id == hanako.id and result.reason == ""


def test_seiri_no_finds_the_person_through_the_invitation_number(hanako):
    issue_seiri(hanako, "1000001238")
    result = match(identity(atena_no="", seiri_no="1000001238"))
    assert result.resident_id == hanako.id


def test_both_identifiers_naming_the_same_person_match(hanako):
    issue_seiri(hanako, "1000001006")
    assert match(identity(seiri_no="1000001006")).resident_id == hanako.id


def test_identifiers_naming_two_people_are_not_matched(hanako):
    other = make_resident(atena_no="000000000002", name="千葉 次郎", kana="チバ ジロウ", sex=1)
    issue_seiri(other, "1000002004")
    result = match(identity(seiri_no="1000002004"))
    assert not result.matched and result.reason == matching.TWO_PEOPLE


def test_no_identifier_is_never_matched_even_when_name_and_birth_agree(hanako):
    result = match(identity(atena_no=""))
    assert not result.matched and result.reason == matching.NO_IDENTIFIER


@pytest.mark.parametrize("overrides, reason", [
    ({"atena_no": "999"}, matching.UNKNOWN_ATENA),
    ({"atena_no": "", "seiri_no": "1000009991"}, matching.UNKNOWN_SEIRI),
    # an unknown 整理番号 beside a known 宛名番号: both given must name the same person
    ({"seiri_no": "1000009991"}, matching.UNKNOWN_SEIRI),
])
def test_unknown_identifiers_are_reasons(hanako, overrides, reason):
    result = match(identity(**overrides))
    assert not result.matched and result.reason == reason


@pytest.mark.parametrize("overrides, mismatches, words", [
    ({"birth_date": "S35.5.11"}, ("birth_date",), "生年月日"),
    ({"sex": "1"}, ("sex",), "性別"),
    ({"name_kana": "チバ ハナエ"}, ("name_kana",), "カナ氏名"),
    ({"birth_date": "1961-05-10", "sex": "1"}, ("birth_date", "sex"), "生年月日・性別"),
])
def test_any_disagreement_sends_the_form_to_the_queue_with_the_items_named(hanako, overrides,
                                                                          mismatches, words):
    result = match(identity(**overrides))
    assert not result.matched
    assert result.found_id == hanako.id
    assert result.mismatches == mismatches
    assert words in result.reason


def test_kana_agrees_by_the_matching_key_not_by_spelling(hanako):
    # half-width, hiragana, small kana and long marks all fold to one key
    assert match(identity(name_kana="ﾁﾊﾞ ﾊﾅｺ")).matched
    assert match(identity(name_kana="ちば　はなこ")).matched


def test_preloaded_lookup_gives_the_same_answers_as_the_database(hanako):
    issue_seiri(hanako, "1000003002")
    forms = [identity(), identity(seiri_no="1000003002"), identity(atena_no="404"),
             identity(birth_date="S35.5.11")]
    lookup = PreloadedFinder([f.seiri_no for f in forms], [f.atena_no for f in forms])
    assert [match(f, lookup) for f in forms] == [match(f) for f in forms]


def test_candidates_by_birth_sex_and_kana_flag_same_reading_and_variants(db):
    takahashi = make_resident(atena_no="1", name="髙橋 一郎", kana="タカハシ イチロウ", sex=1,
                              birth=date(1970, 1, 2))
    same_reading = make_resident(atena_no="2", name="高梁 一朗", kana="タカハシ イチロウ", sex=1,
                                 birth=date(1970, 1, 2))
    make_resident(atena_no="3", name="高橋 一郎", kana="タカハシ イチロウ", sex=1,
                  birth=date(1970, 1, 3))  # another birth date: not offered
    form = FormIdentity("", "", "タカハシ　イチロウ", "タカハシイチロウ", date(1970, 1, 2), 1, "高橋 一郎")
    offered = {c.resident.id: c for c in matching.candidates(form)}
    assert set(offered) == {takahashi.id, same_reading.id}
    assert matching.FLAG_VARIANT in offered[takahashi.id].flags
    assert matching.FLAG_READING_ONLY in offered[same_reading.id].flags
    assert all(matching.FLAG_SAME_READING in c.flags for c in offered.values())


def test_kanji_variant_name_is_offered_even_when_the_kana_differs(db):
    person = make_resident(atena_no="5", name="渡邊 誠", kana="ワタナベ マコト", sex=1,
                           birth=date(1955, 3, 3))
    form = FormIdentity("", "", "ワタナヘ　マコト", "ワタナヘマコト", date(1955, 3, 3), 1, "渡辺 誠")
    (only,) = matching.candidates(form)
    assert only.resident.id == person.id
    assert matching.FLAG_VARIANT in only.flags and only.mismatches == ("name_kana",)


def test_the_person_an_identifier_named_leads_the_candidates(hanako):
    form = identity(birth_date="S35.5.11")
    result = match(form)
    offered = matching.candidates(form, found_id=result.found_id)
    assert offered[0].resident.id == hanako.id
    assert matching.FLAG_NUMBER in offered[0].flags


@pytest.mark.parametrize("column, value", [
    ("atena_no", "12a"), ("atena_no", "1234567890123456"), ("seiri_no", "番号"),
    ("name_kana", "千葉"), ("name_kana", ""), ("birth_date", "2023-02-29"),
    ("birth_date", "2030-01-01"), ("sex", "3"), ("sex", ""),
])
def test_identity_columns_are_checked(column, value):
    raw = {"atena_no": "1", "name_kana": "チバ", "birth_date": "1960-01-01", "sex": "2", column: value}
    found, errors = parse_identity(raw, today=date(2025, 6, 1))
    assert found is None and column in errors


# --- near misses (issue 20) -----------------------------------------------------------------

def test_one_edit_apart_is_one_insertion_deletion_or_replacement():
    assert matching.one_edit_apart("チバハナコ", "チバハナ")         # one deleted
    assert matching.one_edit_apart("チバハナコ", "チハハナコ")       # one replaced
    assert matching.one_edit_apart("チバハナコ", "チバハナコオ")     # one inserted
    assert not matching.one_edit_apart("チバハナコ", "チバハナコ")   # the same is no near miss
    assert not matching.one_edit_apart("チバハナコ", "チハハナユ")   # two replaced
    assert not matching.one_edit_apart("チバハナコ", "バチハナコ")   # two swapped = two edits


def test_near_birth_dates_are_a_day_either_side_and_month_and_day_swapped():
    assert matching.near_birth_dates(date(1960, 5, 10)) == {
        date(1960, 5, 9): matching.NEAR_DAY, date(1960, 5, 11): matching.NEAR_DAY,
        date(1960, 10, 5): matching.NEAR_TRANSPOSED}
    # a day above 12 cannot be a month; the same month and day swap to themselves
    assert set(matching.near_birth_dates(date(1960, 5, 13)).values()) == {matching.NEAR_DAY}
    assert set(matching.near_birth_dates(date(1960, 5, 5)).values()) == {matching.NEAR_DAY}
    assert date(1961, 1, 1) in matching.near_birth_dates(date(1960, 12, 31))


def test_queue_offers_near_misses_after_exact_candidates_each_marked(db):
    exact = make_resident(atena_no="11", kana="チバ ハナコ", birth=date(1960, 5, 10))
    day_off = make_resident(atena_no="12", kana="チバ ハナコ", birth=date(1960, 5, 11))
    swapped = make_resident(atena_no="13", kana="チバ ハナコ", birth=date(1960, 10, 5))
    kana_off = make_resident(atena_no="14", kana="チハ ハナコ", birth=date(1960, 5, 10))
    # not offered: two things off, the other sex, kana two characters off, two days off
    make_resident(atena_no="15", kana="チハ ハナコ", birth=date(1960, 5, 11))
    make_resident(atena_no="16", kana="チバ ハナコ", birth=date(1960, 5, 11), sex=1)
    make_resident(atena_no="17", kana="チハ ハナユ", birth=date(1960, 5, 10))
    make_resident(atena_no="18", kana="チバ ハナコ", birth=date(1960, 5, 12))
    form = FormIdentity("", "", "チバ　ハナコ", "チバハナコ", date(1960, 5, 10), 2, "")

    assert [c.resident.id for c in matching.candidates(form)] == [exact.id]  # entry: exact only
    offered = matching.candidates(form, near=True)
    assert [(c.resident.id, c.near) for c in offered] == [
        (exact.id, ""), (day_off.id, matching.NEAR_DAY), (swapped.id, matching.NEAR_TRANSPOSED),
        (kana_off.id, matching.NEAR_KANA)]
    assert offered[1].mismatches == ("birth_date",) and offered[3].mismatches == ("name_kana",)


def test_near_misses_reach_only_people_in_the_programme(db):
    from kenshin.core.dates import today_jst
    from kenshin.registry.residents import programme_birth_cutoff

    young = programme_birth_cutoff(today_jst()) + timedelta(days=1)  # 19 today
    make_resident(atena_no="21", kana="チバ ハナコ", birth=young)
    form = FormIdentity("", "", "チバ　ハナコ", "チバハナコ", young - timedelta(days=1), 2, "")
    assert matching.near_misses(form) == []
