"""The exam catalogue: items, codes, ranges, required rules and the derived 要精検 (FORMATS.md)."""

import pytest

from kenshin.screening import catalogue
from kenshin.screening.catalogue import (
    EXAMS,
    FOLLOWUP_TARGETS,
    SETTINGS,
    display_items,
    get_exam,
    item_keys_of_all_exams,
    referral_flag,
    validate_items,
    verified_items,
)
from kenshin.core.errors import NotFound
from kenshin.core.labels import SEXES

VALID = {
    "gastric_xray": {"xray_category": "2", "xray_findings": "慢性胃炎", "referral": "0"},
    "gastric_endoscopy": {"endoscopy_result": "none", "endoscopy_findings": "", "referral": "0",
                          "other_findings": "食道裂孔ヘルニア"},
    "colorectal": {"fobt_result": "negative", "referral": "0"},
    "lung": {"symptoms": "0", "xray_grade": "B", "sputum_class": "", "referral": "0", "other_findings": ""},
    "breast": {"mammography_category": "1", "mammography_findings": "", "referral": "0"},
    "cervical": {"symptoms": "0", "referral": "0"},
    "periodontal": {"brushing_frequency": "2", "smoking": "0", "diabetes": "0", "rheumatoid_arthritis": "0",
                    "cardiovascular": "0", "visceral_obesity": "0", "pregnancy": "0", "other_condition": "",
                    "cpi_bleeding": "1", "cpi_pocket": "1", "judgement": "guidance"},
    "osteoporosis": {"weight_kg": "52.5", "height_cm": "158", "fracture_history": "0", "fracture_site": "",
                     "family_hip_fracture": "0", "smoking": "0", "steroid": "0", "menstruation": "2",
                     "method": "DXA", "bone_density": "85", "judgement": "normal"},
    "hepatitis": {"surgery_history": "0", "hbs_antigen": "negative", "hcv_judgement": "low"},
    "followup": {"target": "gastric"},
    "periodontal_followup": {"result": "歯周炎。治療開始。"},
}


def check(exam, sex=None, **changes):
    raw = dict(VALID[exam])
    raw.update(changes)
    return validate_items(exam, raw, sex=sex)


def test_eleven_exams_in_formats_order():
    assert list(EXAMS) == list(VALID)
    assert SETTINGS == {"1": "個別", "2": "集団"}
    assert SEXES == {"1": "男", "2": "女"}
    assert FOLLOWUP_TARGETS == {"gastric": "胃", "lung": "肺", "colorectal": "大腸", "cervical": "子宮", "breast": "乳"}


def test_unknown_exam_is_not_found():
    with pytest.raises(NotFound):
        get_exam("blood")
    with pytest.raises(NotFound):
        validate_items("blood", {})


@pytest.mark.parametrize("exam", list(VALID))
def test_valid_example_passes(exam):
    clean, errors = validate_items(exam, VALID[exam], sex=2)
    assert errors == {}
    assert set(clean) == set(get_exam(exam).keys)


@pytest.mark.parametrize(
    "exam, keys",
    [
        ("gastric_xray", ["xray_category", "xray_findings", "referral"]),
        ("gastric_endoscopy", ["endoscopy_result", "endoscopy_findings", "referral", "other_findings"]),
        ("lung", ["symptoms", "xray_grade", "sputum_class", "referral", "other_findings"]),
        ("periodontal", ["brushing_frequency", "smoking", "diabetes", "rheumatoid_arthritis", "cardiovascular",
                         "visceral_obesity", "pregnancy", "other_condition", "cpi_bleeding", "cpi_pocket",
                         "judgement"]),
        ("osteoporosis", ["weight_kg", "height_cm", "fracture_history", "fracture_site", "family_hip_fracture",
                          "smoking", "steroid", "menstruation", "method", "bone_density", "judgement"]),
        ("followup", ["target"]),
    ],
)
def test_items_in_paper_form_order(exam, keys):
    assert list(get_exam(exam).keys) == keys


@pytest.mark.parametrize(
    "exam, key, label",
    [
        ("gastric_xray", "xray_category", "胃部エックス線検査の判定区分"),
        ("gastric_xray", "referral", "胃がん検診の精密検査の対象有無"),
        ("gastric_endoscopy", "other_findings", "胃がん検診のその他の所見"),
        ("colorectal", "fobt_result", "便潜血検査の判定区分"),
        ("lung", "symptoms", "肺がんに係る症状"),
        ("lung", "xray_grade", "胸部エックス線検査時の判定区分"),
        ("lung", "sputum_class", "喀痰検査時の判定区分"),
        ("lung", "referral", "肺がん検診の精密検査対象区分"),
        ("lung", "other_findings", "肺がん疑い以外の所見"),
        ("breast", "mammography_category", "マンモグラフィ検査時の判定区分"),
        ("cervical", "referral", "子宮頸がん検診精密検査の対象区分"),
        ("periodontal", "brushing_frequency", "1日で歯を磨く頻度の区分"),
        ("periodontal", "judgement", "歯周疾患検診の判定区分"),
        ("osteoporosis", "family_hip_fracture", "大腿骨近位部骨折の家族歴区分"),
        ("osteoporosis", "judgement", "骨粗鬆症検診の判定区分"),
        ("hepatitis", "hcv_judgement", "C型肝炎ウイルス検査の判定区分"),
        ("periodontal_followup", "result", "精密検査結果"),
    ],
)
def test_labels_follow_bessoe_1(exam, key, label):
    assert get_exam(exam).item(key).label == label


def test_exam_attributes():
    assert get_exam("gastric_xray").name == "胃がん(X線)"
    assert [code for code, exam in EXAMS.items() if exam.sex == 2] == ["breast", "cervical", "osteoporosis"]
    assert [code for code, exam in EXAMS.items() if exam.has_target] == ["followup"]
    assert [code for code, exam in EXAMS.items() if exam.referral_derivable] == [
        "gastric_xray", "gastric_endoscopy", "colorectal", "lung", "breast"]
    assert get_exam("lung").report_category == "51"


@pytest.mark.parametrize(
    "exam, inputs, expected",
    [
        ("gastric_xray", {"xray_category": "1"}, "0"),
        ("gastric_xray", {"xray_category": "2"}, "0"),
        ("gastric_xray", {"xray_category": "3a"}, "1"),
        ("gastric_xray", {"xray_category": "3b"}, "1"),
        ("gastric_xray", {"xray_category": "4"}, "1"),
        ("gastric_xray", {"xray_category": "5"}, "1"),
        ("gastric_endoscopy", {"endoscopy_result": "none"}, "0"),
        ("gastric_endoscopy", {"endoscopy_result": "suspected"}, "1"),
        ("gastric_endoscopy", {"endoscopy_result": "cancer"}, "1"),
        ("colorectal", {"fobt_result": "negative"}, "0"),
        ("colorectal", {"fobt_result": "positive"}, "1"),
        ("lung", {"xray_grade": "A", "sputum_class": ""}, "0"),
        ("lung", {"xray_grade": "C", "sputum_class": "C"}, "0"),
        ("lung", {"xray_grade": "D1", "sputum_class": ""}, "0"),
        ("lung", {"xray_grade": "D4", "sputum_class": "B"}, "0"),
        ("lung", {"xray_grade": "E1", "sputum_class": ""}, "1"),
        ("lung", {"xray_grade": "E2", "sputum_class": "A"}, "1"),
        ("lung", {"xray_grade": "A", "sputum_class": "D"}, "1"),
        ("lung", {"xray_grade": "B", "sputum_class": "E"}, "1"),
        ("breast", {"mammography_category": "2"}, "0"),
        ("breast", {"mammography_category": "3"}, "1"),
        ("breast", {"mammography_category": "5"}, "1"),
    ],
)
def test_derived_referral(exam, inputs, expected):
    # blank referral is filled in from the rule
    clean, errors = check(exam, sex=2, referral="", **inputs)
    assert errors == {}
    assert clean["referral"] == expected
    assert referral_flag(exam, clean) is (expected == "1")
    # the same value given explicitly is accepted
    clean, errors = check(exam, sex=2, referral=expected, **inputs)
    assert errors == {} and clean["referral"] == expected
    # the other value contradicts the rule
    other = "0" if expected == "1" else "1"
    clean, errors = check(exam, sex=2, referral=other, **inputs)
    assert list(errors) == ["referral"]
    assert ("要精検(1)" if expected == "1" else "精検の対象外(0)") in errors["referral"][0]


def test_contradiction_message_names_the_reason():
    _, errors = check("gastric_xray", xray_category="3a", referral="0")
    assert errors == {"referral": ["判定区分3a以上は要精検(1)です"]}


def test_cervical_referral_is_required_and_not_derived():
    _, errors = check("cervical", sex=2, referral="")
    assert errors == {"referral": ["必須です"]}
    clean, errors = check("cervical", sex=2, symptoms="0", referral="1")
    assert errors == {} and referral_flag("cervical", clean) is True


def test_invalid_referral_code():
    _, errors = check("colorectal", referral="2")
    assert errors == {"referral": ["コードが不正です: 2（0, 1 のいずれか）"]}


def test_invalid_input_item_gives_no_referral_contradiction():
    _, errors = check("lung", xray_grade="B", sputum_class="F", referral="1")
    assert list(errors) == ["sputum_class"]


@pytest.mark.parametrize("exam", ["breast", "cervical", "osteoporosis"])
@pytest.mark.parametrize("sex", [1, "1", "１"])
def test_women_only_exam_refuses_men(exam, sex):
    _, errors = validate_items(exam, VALID[exam], sex=sex)
    assert errors == {"-": ["女性のみの検診です"]}


@pytest.mark.parametrize("exam", ["gastric_xray", "lung", "periodontal", "hepatitis"])
def test_exams_for_both_sexes_accept_men(exam):
    assert validate_items(exam, VALID[exam], sex=1)[1] == {}


@pytest.mark.parametrize(
    "history, site, error",
    [
        ("1", "左手首", None),
        ("1", "", "骨折歴ありの場合は必須です"),
        ("1", "　 ", "骨折歴ありの場合は必須です"),
        ("0", "", None),
        ("0", "左手首", "骨折歴なしの場合は空欄にしてください"),
        ("1", "あ" * 100, None),
        ("1", "あ" * 101, "100文字以内で入力してください"),
    ],
)
def test_osteoporosis_fracture_site(history, site, error):
    clean, errors = check("osteoporosis", sex=2, fracture_history=history, fracture_site=site)
    if error is None:
        assert errors == {} and clean["fracture_site"] == site.strip()
    else:
        assert errors == {"fracture_site": [error]}


@pytest.mark.parametrize(
    "key, value, stored, error",
    [
        ("weight_kg", "20", "20", None),
        ("weight_kg", "19.9", None, "20〜200の範囲で入力してください"),
        ("weight_kg", "200", "200", None),
        ("weight_kg", "200.0", "200", None),
        ("weight_kg", "200.1", None, "20〜200の範囲で入力してください"),
        ("weight_kg", "52.50", "52.5", None),
        ("weight_kg", "052.5", "52.5", None),
        ("weight_kg", "５２．５", "52.5", None),
        ("weight_kg", "52.55", None, "小数点以下は1桁までです"),
        ("weight_kg", "abc", None, "数値で入力してください"),
        ("weight_kg", "-30", None, "数値で入力してください"),
        ("weight_kg", "52.", None, "数値で入力してください"),
        ("weight_kg", "", None, "必須です"),
        ("height_cm", "100", "100", None),
        ("height_cm", "99.9", None, "100〜220の範囲で入力してください"),
        ("height_cm", "220", "220", None),
        ("height_cm", "220.1", None, "100〜220の範囲で入力してください"),
        ("bone_density", "30", "30", None),
        ("bone_density", "29.9", None, "30〜150の範囲で入力してください"),
        ("bone_density", "150", "150", None),
        ("bone_density", "150.1", None, "30〜150の範囲で入力してください"),
        ("bone_density", " 72.4 ", "72.4", None),
    ],
)
def test_number_ranges(key, value, stored, error):
    clean, errors = check("osteoporosis", sex=2, **{key: value})
    if error is None:
        assert errors == {} and clean[key] == stored
    else:
        assert errors == {key: [error]}


@pytest.mark.parametrize(
    "exam, key",
    [
        ("gastric_xray", "xray_category"),
        ("gastric_endoscopy", "endoscopy_result"),
        ("colorectal", "fobt_result"),
        ("lung", "symptoms"),
        ("lung", "xray_grade"),
        ("breast", "mammography_category"),
        ("cervical", "symptoms"),
        ("periodontal", "brushing_frequency"),
        ("periodontal", "pregnancy"),
        ("periodontal", "cpi_pocket"),
        ("periodontal", "judgement"),
        ("osteoporosis", "method"),
        ("osteoporosis", "menstruation"),
        ("osteoporosis", "judgement"),
        ("hepatitis", "surgery_history"),
        ("hepatitis", "hbs_antigen"),
        ("hepatitis", "hcv_judgement"),
        ("followup", "target"),
        ("periodontal_followup", "result"),
    ],
)
def test_required_items(exam, key):
    _, errors = check(exam, sex=2, **{key: "  "})
    assert errors == {key: ["必須です"]}
    raw = {k: v for k, v in VALID[exam].items() if k != key}  # a missing key is blank too
    assert validate_items(exam, raw, sex=2)[1] == {key: ["必須です"]}


@pytest.mark.parametrize(
    "exam, key",
    [
        ("gastric_xray", "xray_findings"),
        ("gastric_endoscopy", "endoscopy_findings"),
        ("gastric_endoscopy", "other_findings"),
        ("lung", "other_findings"),
        ("breast", "mammography_findings"),
        ("periodontal", "other_condition"),
    ],
)
def test_text_items_are_optional(exam, key):
    clean, errors = check(exam, sex=2, **{key: ""})
    assert errors == {} and clean[key] == ""


@pytest.mark.parametrize(
    "exam, key, value, message",
    [
        ("gastric_xray", "xray_category", "6", "コードが不正です: 6（0, 1, 2, 3a, 3b, 4, 5 のいずれか）"),
        ("gastric_xray", "xray_category", "3", "コードが不正です: 3（0, 1, 2, 3a, 3b, 4, 5 のいずれか）"),
        ("lung", "xray_grade", "D", "コードが不正です: D（A, B, C, D1, D2, D3, D4, E1, E2 のいずれか）"),
        ("lung", "sputum_class", "F", "コードが不正です: F（A, B, C, D, E のいずれか、未実施は空欄）"),
        ("lung", "symptoms", "2", "コードが不正です: 2（0, 1 のいずれか）"),
        ("colorectal", "fobt_result", "陽性", "コードが不正です: 陽性（negative, positive, undetermined のいずれか）"),
        ("breast", "mammography_category", "0", "コードが不正です: 0（1, 2, 3, 4, 5, N のいずれか）"),
        ("periodontal", "cpi_pocket", "3", "コードが不正です: 3（0, 1, 2, 9, X のいずれか）"),
        ("periodontal", "smoking", "3", "コードが不正です: 3（0, 1, 2 のいずれか）"),
        ("periodontal", "brushing_frequency", "4", "コードが不正です: 4（0, 1, 2, 3 のいずれか）"),
        ("osteoporosis", "smoking", "2", "コードが不正です: 2（0, 1 のいずれか）"),
        ("osteoporosis", "method", "MRI", "コードが不正です: MRI（DXA, MD, QUS, CT のいずれか）"),
        ("hepatitis", "hcv_judgement", "medium", "コードが不正です: medium（low, high のいずれか）"),
        ("followup", "target", "liver",
         "コードが不正です: liver（gastric, lung, colorectal, cervical, breast のいずれか）"),
    ],
)
def test_unknown_code(exam, key, value, message):
    _, errors = check(exam, sex=2, **{key: value})
    assert errors == {key: [message]}


@pytest.mark.parametrize(
    "exam, key, value, stored",
    [
        ("gastric_xray", "xray_category", "３ａ", "3a"),
        ("gastric_xray", "xray_category", "3A", "3a"),
        ("gastric_xray", "xray_category", " ３Ｂ　", "3b"),
        ("lung", "xray_grade", "Ｅ１", "E1"),
        ("lung", "xray_grade", "d2", "D2"),
        ("lung", "sputum_class", "ｂ", "B"),
        ("lung", "symptoms", "１", "1"),
        ("osteoporosis", "method", "dxa", "DXA"),
        ("osteoporosis", "method", "ＱＵＳ", "QUS"),
        ("colorectal", "fobt_result", "NEGATIVE", "negative"),
        ("periodontal", "judgement", "Guidance", "guidance"),
        ("followup", "target", "Ｌｕｎｇ", "lung"),
    ],
)
def test_full_width_and_case_are_canonicalised(exam, key, value, stored):
    changes = {key: value}
    if "referral" in VALID[exam]:
        changes["referral"] = ""
    clean, errors = check(exam, sex=2, **changes)
    assert errors == {} and clean[key] == stored


def test_text_is_stripped_and_limited():
    clean, errors = check("gastric_xray", xray_findings="  胃炎\r\n萎縮あり  ")
    assert errors == {} and clean["xray_findings"] == "胃炎\n萎縮あり"
    assert check("gastric_xray", xray_findings="あ" * 200)[1] == {}
    assert check("gastric_xray", xray_findings="あ" * 201)[1] == {"xray_findings": ["200文字以内で入力してください"]}
    assert check("gastric_xray", xray_findings="a\x00b")[1] == {"xray_findings": ["制御文字は使えません"]}


def test_non_blank_column_of_another_exam_is_an_error():
    _, errors = check("colorectal", xray_category="2")
    assert errors == {"xray_category": ["大腸がんの項目ではありません"]}
    assert check("colorectal", xray_category="", institution_code="")[1] == {}


@pytest.mark.parametrize(
    "exam, changes, flag",
    [
        ("periodontal", {"judgement": "referral"}, True),
        ("periodontal", {"judgement": "guidance"}, False),
        ("periodontal", {"judgement": "normal"}, False),
        ("osteoporosis", {"judgement": "referral"}, True),
        ("osteoporosis", {"judgement": "guidance"}, False),
        ("hepatitis", {"hbs_antigen": "positive", "hcv_judgement": "low"}, True),
        ("hepatitis", {"hbs_antigen": "negative", "hcv_judgement": "high"}, True),
        ("hepatitis", {"hbs_antigen": "positive", "hcv_judgement": "high"}, True),
        ("hepatitis", {"hbs_antigen": "negative", "hcv_judgement": "low"}, False),
        ("cervical", {"referral": "1"}, True),
        ("cervical", {"referral": "0"}, False),
        ("followup", {"target": "lung"}, False),
        ("periodontal_followup", {}, False),
    ],
)
def test_referral_flag(exam, changes, flag):
    clean, errors = check(exam, sex=2, **changes)
    assert errors == {}
    assert referral_flag(exam, clean) is flag


def test_referral_flag_derives_when_referral_is_missing():
    assert referral_flag("gastric_xray", {"xray_category": "4"}) is True
    assert referral_flag("gastric_xray", {"xray_category": "1"}) is False


def test_display_items_in_japanese():
    clean, _ = check("gastric_xray", xray_category="3a", referral="")
    assert display_items("gastric_xray", clean) == [
        ("胃部エックス線検査の判定区分", "カテゴリー3a（良性・要精検）"),
        ("胃部エックス線検査の所見", "慢性胃炎"),
        ("胃がん検診の精密検査の対象有無", "要精検"),
    ]
    clean, _ = check("lung", xray_grade="E1", referral="")
    shown = dict(display_items("lung", clean))
    assert shown["肺がんに係る症状"] == "なし"
    assert shown["胸部エックス線検査時の判定区分"] == "E1（肺がんを否定できない）"
    assert shown["喀痰検査時の判定区分"] == "未実施"
    assert shown["肺がん検診の精密検査対象区分"] == "要精検"


@pytest.mark.parametrize(
    "exam, label, value",
    [
        ("osteoporosis", "体重", "52.5kg"),
        ("osteoporosis", "身長", "158cm"),
        ("osteoporosis", "骨密度", "85%YAM"),
        ("osteoporosis", "測定方法", "DXA法"),
        ("osteoporosis", "月経・閉経の有無", "閉経"),
        ("osteoporosis", "骨粗鬆症検診の判定区分", "異常認めず"),
        ("periodontal", "喫煙歴の区分", "なし"),
        ("periodontal", "1日で歯を磨く頻度の区分", "2回"),
        ("periodontal", "歯周疾患検査結果（CPI 歯周ポケット）", "4〜5mm"),
        ("periodontal", "歯周疾患検診の判定区分", "要指導"),
        ("hepatitis", "B型肝炎ウイルス検査の判定区分", "陰性"),
        ("hepatitis", "C型肝炎ウイルス検査の判定区分", "感染している可能性が低い"),
        ("gastric_endoscopy", "胃内視鏡の判定区分", "胃がんなし"),
        ("colorectal", "便潜血検査の判定区分", "陰性"),
        ("breast", "マンモグラフィ検査時の判定区分", "カテゴリー1（異常なし）"),
        ("followup", "精密検査の対象", "胃"),
    ],
)
def test_display_values(exam, label, value):
    clean, errors = validate_items(exam, VALID[exam], sex=2)
    assert errors == {}
    assert dict(display_items(exam, clean))[label] == value


def test_display_never_shows_a_missing_judgement_as_normal():
    assert dict(display_items("periodontal", {}))["歯周疾患検診の判定区分"] == "（未入力）"


def test_summary_only_hides_questionnaire_items():
    clean, _ = validate_items("osteoporosis", VALID["osteoporosis"], sex=2)
    labels = [label for label, _ in display_items("osteoporosis", clean, summary_only=True)]
    assert labels == ["測定方法", "骨密度", "骨粗鬆症検診の判定区分"]


def test_item_keys_of_all_exams():
    keys = item_keys_of_all_exams()
    assert {"referral", "symptoms", "smoking", "judgement", "other_findings", "target", "result",
            "xray_category", "bone_density", "hcv_judgement"} <= keys
    assert not keys & {"exam", "exam_date", "institution_code", "setting", "sex", "atena_no"}
    assert len(keys) == 37


@pytest.mark.parametrize(
    "exam, keys",
    [
        ("gastric_xray", ("xray_category", "referral")),
        ("lung", ("xray_grade", "sputum_class", "referral")),
        ("cervical", ("referral",)),
        ("periodontal", ("judgement",)),
        ("osteoporosis", ("judgement",)),
        ("hepatitis", ("hbs_antigen", "hcv_judgement")),
        ("followup", ("target",)),
        ("periodontal_followup", ("result",)),
    ],
)
def test_verified_items(exam, keys):
    assert verified_items(exam) == keys
    assert verified_items(exam, all_items=True) == get_exam(exam).keys


def test_catalogue_is_read_only():
    with pytest.raises(TypeError):
        catalogue.EXAMS["x"] = None
    with pytest.raises(TypeError):
        get_exam("lung").item("xray_grade").codes["F"] = "?"


# --- issue 13: cross-checks that refuse, cautions that only warn, the 別添1 names -------------------

@pytest.mark.parametrize("exam, changes, key", [
    ("followup", {"target": "cervical"}, "target"),
    ("followup", {"target": "breast"}, "target"),
    ("periodontal", {"pregnancy": "1"}, "pregnancy"),
])
def test_women_only_items_are_refused_for_a_man_and_kept_for_a_woman(exam, changes, key):
    _, errors = check(exam, sex=1, **changes)
    assert list(errors) == [key] and "男性" in errors[key][0]
    assert check(exam, sex=2, **changes)[1] == {}
    assert check(exam, sex="１", **{key: VALID[exam][key]})[1] == {}  # the other values are fine


@pytest.mark.parametrize("density, judgement, warned", [
    ("70", "normal", True), ("65.5", "normal", True), ("70.1", "normal", False),
    ("60", "referral", False), ("60", "guidance", False),
])
def test_low_bone_density_judged_normal_is_a_caution_not_an_error(density, judgement, warned):
    clean, errors = check("osteoporosis", sex=2, bone_density=density, judgement=judgement)
    assert errors == {}
    cautions = catalogue.cautions("osteoporosis", clean)
    assert bool(cautions) is warned
    if warned:
        assert "70%以下" in cautions[0] and "異常認めず" in cautions[0]


def test_exam_names_follow_the_assessment_where_it_differs():
    assert EXAMS["cervical"].name == "子宮がん"
    assert EXAMS["hepatitis"].name == "肝炎ウイルス検査"
    assert [code for code, exam in EXAMS.items() if exam.followup] == ["followup", "periodontal_followup"]


# --- codes as the paper writes them (screens: catalogue.read_paper) ------------------------

CODED = [(exam.code, item) for exam in EXAMS.values() for item in exam.all_fields if item.kind == "code"]


@pytest.mark.parametrize("exam, item", CODED, ids=[f"{e}-{i.key}" for e, i in CODED])
def test_every_coded_item_declares_how_the_paper_writes_each_code(exam, item):
    assert set(item.paper) == set(item.codes)
    for code in item.codes:
        assert item.paper[code], (exam, item.key, code)  # at least the printed word
        assert item.from_paper(code) == code  # the code itself is always read
        assert item.from_paper(item.written(code)) == code  # what a form is filled with reads back
        for form in item.paper[code]:
            assert item.from_paper(form) == code, (exam, item.key, form)


@pytest.mark.parametrize(
    "typed, code",
    [
        ("陽性", "positive"), ("＋", "positive"), ("+", "positive"), ("(＋)", "positive"),
        ("（+）", "positive"), ("2", "positive"), ("２", "positive"), ("positive", "positive"),
        ("陰性", "negative"), ("－", "negative"), ("-", "negative"), ("ー", "negative"),  # IME's ー
        ("−", "negative"), ("(－)", "negative"), ("（-）", "negative"), ("1", "negative"),
        (" 陰 性 ", "negative"), ("判定不能", "undetermined"), ("3", "undetermined"),
    ],
)
def test_fecal_occult_blood_reads_the_paper_forms(typed, code):
    assert get_exam("colorectal").item("fobt_result").from_paper(typed) == code


@pytest.mark.parametrize(
    "exam, key, typed, code",
    [
        ("periodontal", "judgement", "異常認めず", "normal"),
        ("periodontal", "judgement", "要指導", "guidance"),
        ("osteoporosis", "judgement", "要精検", "referral"),
        ("gastric_endoscopy", "endoscopy_result", "なし", "none"),
        ("gastric_endoscopy", "endoscopy_result", "疑い", "suspected"),
        ("gastric_endoscopy", "endoscopy_result", "がん", "cancer"),
        ("gastric_xray", "xray_category", "3A", "3a"),  # as now
        ("gastric_xray", "xray_category", "カテゴリー3b", "3b"),
        ("lung", "xray_grade", "ｅ１", "E1"),
        ("lung", "symptoms", "なし", "0"), ("lung", "symptoms", "＋", "1"),
        ("colorectal", "referral", "要精検", "1"), ("colorectal", "referral", "対象外", "0"),
        ("hepatitis", "hbs_antigen", "(－)", "negative"),
        ("hepatitis", "hcv_judgement", "高い", "high"),
        ("cervical", "hpv_triage", "LSIL", "ascus_plus"),
        ("osteoporosis", "method", "超音波法", "QUS"),
        ("periodontal", "cpi_pocket", "x", "X"),
        ("followup", "target", "大腸がん", "colorectal"),
    ],
)
def test_paper_words_read_as_their_codes(exam, key, typed, code):
    assert get_exam(exam).item(key).from_paper(typed) == code


def test_read_paper_stores_codes_and_refuses_with_the_forms_the_paper_may_use():
    values, errors = catalogue.read_paper("colorectal", {"fobt_result": "＋", "referral": ""})
    assert values == {"fobt_result": "positive", "referral": ""} and errors == {}
    clean, problems = validate_items("colorectal", values)
    assert not problems and clean == {"fobt_result": "positive", "referral": "1"}
    values, errors = catalogue.read_paper("colorectal", {"fobt_result": "たぶん陽性"})
    assert values["fobt_result"] == "たぶん陽性"  # left as typed: the catalogue refuses it too
    (message,) = errors["fobt_result"]
    assert message == "「たぶん陽性」は読めません（陰性（－・（－）・1）、陽性（＋・（＋）・2）、判定不能（3）のいずれか）"


def test_files_keep_to_the_codes():
    # FORMATS.md's CSV codes do not change: the paper's words are for screens only
    raw = dict(VALID["colorectal"], fobt_result="陽性")
    _, errors = validate_items("colorectal", raw)
    assert "コードが不正です" in errors["fobt_result"][0]


def test_the_meaning_of_a_typed_value_is_the_catalogues_label():
    item = get_exam("gastric_xray").item("xray_category")
    assert item.meaning("3b") == "カテゴリー3b（良悪性の判定困難）"
    assert item.meaning("9") == "" and item.meaning("") == ""
    assert get_exam("colorectal").item("fobt_result").meaning("＋") == "陽性"


def test_stored_items_are_written_as_the_paper_for_a_correction():
    assert catalogue.as_paper("colorectal", {"fobt_result": "positive", "referral": "1"}) == {
        "fobt_result": "陽性", "referral": "要精検"}
    assert catalogue.as_paper("gastric_xray", {"xray_category": "3a", "xray_findings": "変形"}) == {
        "xray_category": "3a", "xray_findings": "変形"}


def test_a_paper_form_that_would_read_as_two_codes_is_refused_when_declared():
    with pytest.raises(ValueError, match="both"):
        catalogue.Item("x", "x", "code", {"a": "A", "b": "B"}, paper={"a": ("1",), "b": ("１",)})
