"""Synthetic demo data: a Chiba-sized city's residents, institutions and screenings.

`generate()` fills an empty database (the `demo-data` command). Everything is drawn from one
`random.Random(seed)`, so a seed gives the same people and results (for the same "today").
Nothing here is real: names are Faker's ja_JP pairs (plus a few common ones), addresses are
plausible 町名 of Chiba city's six wards, institutions are invented.

Speed matters (1,000,000 residents in minutes): rows are built as plain tuples, exam items go
through `catalogue.validate_items` once per distinct raw combination (results repeat a lot),
and the shared bulk writer (`database.bulk_insert`: sqlite3 `executemany`, PostgreSQL `COPY`)
loads them.

Rules followed: who is screened, at what ages and how often, comes from each 年度's screening
rules table (`screening.eligibility.rules_for`: the national guideline in a new database — the
table the entry warnings and the invitation runs read), by its age basis (年度末 by default, so a
39-year-old can have her first mammography before her birthday; 胃 X線 40+ yearly or 内視鏡 50+
every 2 年度, sharing one interval; 肝炎 at 40, once in a lifetime …), women-only exams from the
catalogue. A screening only happens while the person is a resident, never in the
future. Referred people often get a `followup` (精密検査) record a few weeks later.
"""
from __future__ import annotations

import bisect
import hashlib
import itertools
import random
import time
from datetime import date, timedelta

import database
from models import ImportBatch, Institution, Resident, Screening, db

from kenshin import audit
from kenshin.screening import catalogue, eligibility
from kenshin.core import dates
from kenshin.core.kana import kana_key, normalize_kana
from kenshin.core.names import name_key

__all__ = ["NotEmpty", "generate"]

RESIDENTS_PER_TRANSACTION = 50_000
PROGRESS_EVERY = 100_000


class NotEmpty(Exception):
    """The database already holds residents: demo data only goes into an empty one."""


# --- people ------------------------------------------------------------------------------------

# Japan's population by 5-year age band, 2025 (millions, rounded; 総務省 人口推計 shape):
# the second baby boom (born 1971-74) at 50-54, the first (1947-49) at 75-79.
AGE_BANDS = (
    3.9, 4.6, 5.1, 5.4, 6.1, 6.3, 6.2, 6.9, 7.6, 8.7,  # 0-4 … 45-49
    9.7, 8.4, 7.4, 7.3, 8.2, 8.6, 6.4, 4.2, 2.0, 0.6,  # 50-54 … 95-99
    0.1,  # 100+ (drawn as 100-105)
)
# Share of men in each band: more boys at birth, more women among the old.
MALE_SHARE = (
    0.515, 0.515, 0.515, 0.515, 0.513, 0.513, 0.511, 0.509, 0.508, 0.508,
    0.506, 0.503, 0.498, 0.488, 0.473, 0.453, 0.413, 0.353, 0.273, 0.193, 0.133,
)
# Probability of a 消除 in the last three years, by band: deaths among the old, moves among the young.
DEATH = (0.0002,) * 12 + (0.002, 0.003, 0.006, 0.010, 0.020, 0.040, 0.070, 0.110, 0.150)
MOVE_OUT = (0.025, 0.019, 0.015, 0.038, 0.063, 0.063, 0.050, 0.038, 0.025, 0.020,
            0.017, 0.015, 0.012, 0.010, 0.008, 0.008, 0.008, 0.008, 0.008, 0.008, 0.008)
OFFICIAL_REMOVAL = 0.0004  # 職権消除
MOVED_IN = 0.30  # share whose 住民となった日 is after birth

# Surnames 51-100 (Faker's list has the top 50), with rough counts in the same unit.
MORE_SURNAMES = """
中野ナカノ 原田ハラダ 小野オノ 田村タムラ 竹内タケウチ 金子カネコ 和田ワダ 中山ナカヤマ 石田イシダ 上田ウエダ
森田モリタ 原ハラ 柴田シバタ 酒井サカイ 工藤クドウ 横山ヨコヤマ 宮崎ミヤザキ 宮本ミヤモト 内田ウチダ 高木タカギ
安藤アンドウ 谷口タニグチ 大野オオノ 丸山マルヤマ 今井イマイ 高田タカダ 藤本フジモト 武田タケダ 村田ムラタ 上野ウエノ
杉山スギヤマ 増田マスダ 平野ヒラノ 大塚オオツカ 千葉チバ 久保クボ 松井マツイ 小島コジマ 岩崎イワサキ 桜井サクライ
野口ノグチ 松尾マツオ 野村ノムラ 木下キノシタ 菊地キクチ 佐野サノ 大西オオニシ 杉本スギモト 新井アライ 浜田ハマダ
"""
# Registry spellings with variant kanji (異体字), as a share of the plain spelling's holders,
# so that variant-aware search has people to find.
VARIANT_SPELLINGS = {
    "高橋": (("髙橋", 0.05),),
    "山崎": (("山﨑", 0.10),),
    "渡辺": (("渡邊", 0.06), ("渡邉", 0.08)),
    "斎藤": (("齋藤", 0.12),),
    "斉藤": (("齊藤", 0.05),),
    "宮崎": (("宮﨑", 0.08),),
    "岩崎": (("岩﨑", 0.08),),
    "浜田": (("濱田", 0.12),),
    "桜井": (("櫻井", 0.10),),
}
# Given names typical of a generation, added to Faker's (which serve every generation).
MORE_GIVEN = {
    (1, 0): "茂シゲル 勇イサム 清キヨシ 博ヒロシ 実ミノル 正タダシ 進ススム 勝マサル 隆タカシ 和夫カズオ "
            "正夫マサオ 昭アキラ 武タケシ 修オサム 三郎サブロウ 幸雄ユキオ",
    (1, 1): "誠マコト 浩ヒロシ 健一ケンイチ 大輔ダイスケ 哲也テツヤ 拓也タクヤ 剛ツヨシ 和彦カズヒコ "
            "達也タツヤ 秀樹ヒデキ 隆之タカユキ 健太ケンタ",
    (1, 2): "蓮レン 大翔ヒロト 陽翔ハルト 悠真ユウマ 湊ミナト 颯太ソウタ 悠人ユウト 大和ヤマト "
            "蒼アオイ 樹イツキ 陸リク 翔ショウ",
    (2, 0): "和子カズコ 幸子サチコ 節子セツコ 洋子ヨウコ 恵子ケイコ 京子キョウコ 美智子ミチコ 文子フミコ "
            "弘子ヒロコ 悦子エツコ 順子ジュンコ 清子キヨコ 照子テルコ 千代子チヨコ 久子ヒサコ 静江シズエ",
    (2, 1): "裕子ユウコ 真由美マユミ 直美ナオミ 智子トモコ 恵メグミ 由美子ユミコ 美穂ミホ 愛アイ "
            "麻衣マイ 典子ノリコ 由紀ユキ 純子ジュンコ",
    (2, 2): "陽菜ヒナ 美咲ミサキ 葵アオイ 凛リン 芽依メイ 結菜ユイナ 咲良サクラ 莉子リコ "
            "彩花アヤカ 紬ツムギ 杏アン 美月ミヅキ",
}


def _pairs(text: str) -> list[tuple[str, str]]:
    """'佐藤サトウ 鈴木スズキ' → [('佐藤', 'サトウ'), ...] (kanji first, then katakana)."""
    out = []
    for word in text.split():
        cut = next(i for i, ch in enumerate(word) if "\u30a1" <= ch <= "\u30fa")
        out.append((word[:cut], word[cut:]))
    return out


class _Choice:
    """A weighted choice drawn with one random() and a bisect (random.choices is slower per call)."""

    __slots__ = ("items", "cum", "total", "last")

    def __init__(self, items, weights):
        self.items = list(items)
        self.cum = list(itertools.accumulate(float(w) for w in weights))
        self.total = self.cum[-1]
        self.last = len(self.items) - 1

    def pick(self, rng: random.Random):
        i = bisect.bisect_right(self.cum, rng.random() * self.total)
        return self.items[i if i <= self.last else self.last]


def _name_pools():
    """Surnames (with variant spellings) and given names per sex and generation, with weights."""
    try:
        from faker.providers.person.ja_JP import Provider
    except ImportError as exc:  # pragma: no cover - faker is the `demo` extra
        raise RuntimeError("demo data needs Faker: pip install 'kenshin[demo]'") from exc
    surnames = [((kanji, kana), float(weight)) for (kanji, kana, _), weight
                in Provider.last_name_pairs.items()]
    known = {kanji for (kanji, _), _ in surnames}
    smallest = min(weight for _, weight in surnames)
    for rank, (kanji, kana) in enumerate(_pairs(MORE_SURNAMES)):
        if kanji not in known:
            surnames.append(((kanji, kana), smallest * (0.98 - 0.006 * rank)))
    spelled = []
    for (kanji, kana), weight in surnames:
        rest = 1.0
        for variant, share in VARIANT_SPELLINGS.get(kanji, ()):
            spelled.append(((variant, kana), weight * share))
            rest -= share
        spelled.append(((kanji, kana), weight * rest))
    faker_given = {1: [(k, kana) for k, kana, _ in Provider.first_name_male_pairs],
                   2: [(k, kana) for k, kana, _ in Provider.first_name_female_pairs]}
    given = {}
    for (sex, era), text in MORE_GIVEN.items():
        own = _pairs(text)
        # an era's own names are more likely than the generic ones
        given[(sex, era)] = _Choice(faker_given[sex] + own,
                                    [1.0] * len(faker_given[sex]) + [2.0] * len(own))
    return _Choice([p for p, _ in spelled], [w for _, w in spelled]), given


# --- places ------------------------------------------------------------------------------------

# ward: (population weight, [(町名, postal code, 丁目 count — 0 for 番地 addresses)])
WARDS = {
    "中央区": (212, [
        ("富士見", "260-0015", 2), ("新町", "260-0028", 0), ("院内", "260-0018", 2),
        ("千葉港", "260-0026", 0), ("問屋町", "260-0025", 0), ("中央", "260-0013", 4),
        ("本千葉町", "260-0014", 0), ("弁天", "260-0045", 4), ("松波", "260-0044", 4),
        ("亥鼻", "260-0011", 3), ("春日", "260-0033", 2), ("末広", "260-0843", 5),
        ("蘇我", "260-0822", 5), ("千葉寺町", "260-0844", 0), ("登戸", "260-0032", 5),
    ]),
    "花見川区": (175, [
        ("幕張本郷", "262-0033", 7), ("幕張町", "262-0032", 6), ("検見川町", "262-0023", 5),
        ("花園", "262-0025", 5), ("花見川", "262-0046", 0), ("千種町", "262-0012", 0),
        ("朝日ケ丘", "262-0019", 5), ("長作町", "262-0044", 0), ("作新台", "262-0045", 8),
        ("武石町", "262-0031", 2), ("柏井", "262-0041", 4), ("瑞穂", "262-0022", 3),
    ]),
    "稲毛区": (158, [
        ("小仲台", "263-0043", 9), ("稲毛東", "263-0031", 6), ("稲毛", "263-0034", 3),
        ("園生町", "263-0051", 0), ("轟町", "263-0021", 5), ("弥生町", "263-0022", 2),
        ("緑町", "263-0023", 2), ("穴川", "263-0024", 4), ("長沼町", "263-0005", 0),
        ("天台", "263-0016", 6), ("黒砂", "263-0042", 4), ("宮野木町", "263-0054", 0),
        ("山王町", "263-0002", 0),
    ]),
    "若葉区": (147, [
        ("若松町", "264-0021", 0), ("都賀", "264-0025", 5), ("西都賀", "264-0026", 5),
        ("桜木", "264-0028", 8), ("みつわ台", "264-0032", 5), ("東寺山町", "264-0035", 0),
        ("小倉台", "264-0007", 7), ("千城台西", "264-0005", 3), ("千城台北", "264-0003", 4),
        ("加曽利町", "264-0017", 0), ("源町", "264-0037", 0), ("貝塚", "264-0034", 2),
        ("大宮台", "264-0015", 7),
    ]),
    "緑区": (130, [
        ("おゆみ野", "266-0031", 6), ("おゆみ野中央", "266-0032", 9), ("おゆみ野南", "266-0033", 6),
        ("鎌取町", "266-0011", 0), ("誉田町", "266-0005", 3), ("古市場町", "266-0026", 0),
        ("高田町", "266-0003", 0), ("大椎町", "267-0055", 0), ("あすみが丘", "267-0066", 9),
        ("土気町", "267-0061", 0), ("平山町", "266-0004", 0), ("椎名崎町", "266-0024", 0),
    ]),
    "美浜区": (148, [
        ("幸町", "261-0001", 2), ("高洲", "261-0004", 4), ("真砂", "261-0011", 5),
        ("磯辺", "261-0012", 8), ("打瀬", "261-0013", 3), ("高浜", "261-0003", 6),
        ("稲毛海岸", "261-0005", 5), ("ひび野", "261-0021", 2), ("中瀬", "261-0023", 2),
        ("浜田", "261-0025", 2), ("幕張西", "261-0026", 6), ("若葉", "261-0014", 3),
        ("新港", "261-0002", 0),
    ]),
}
CITY = "千葉県千葉市"
BUILDINGS = ("ハイツ", "コーポ", "メゾン", "パークハウス", "グランドール", "レジデンス", "第一団地")
WARD_NAMES = tuple(WARDS)


def _address(rng: random.Random, towns: _Choice, ward: str) -> tuple[str, str]:
    town, postal, chome = towns.pick(rng)
    if chome:
        line = f"{CITY}{ward}{town}{rng.randint(1, chome)}丁目{rng.randint(1, 28)}番{rng.randint(1, 24)}号"
    else:
        line = f"{CITY}{ward}{town}{rng.randint(1, 1800)}番地{rng.randint(1, 30)}"
    if rng.random() < 0.28:
        building = BUILDINGS[int(rng.random() * len(BUILDINGS))]
        line += f"　{town}{building}{rng.randint(1, 9)}0{rng.randint(1, 9)}号室"
    return postal, line


# --- institutions ------------------------------------------------------------------------------

GROUP_EXAMS = ("gastric_xray", "colorectal", "lung", "breast", "cervical", "osteoporosis")
KIND_EXAMS = {
    "hospital": ("gastric_xray", "gastric_endoscopy", "colorectal", "lung", "breast", "cervical",
                 "osteoporosis", "hepatitis"),
    "internal": ("colorectal", "lung", "hepatitis"),
    "internal_x": ("gastric_xray", "colorectal", "lung", "hepatitis"),
    "gastro": ("gastric_xray", "gastric_endoscopy", "colorectal", "hepatitis"),
    "resp": ("lung", "colorectal", "hepatitis"),
    "gyn": ("cervical", "osteoporosis"),
    "breast": ("breast",),
    "dental": ("periodontal",),
    "ortho": ("osteoporosis",),
    "group": GROUP_EXAMS,
}
# What each kind of institution does as 精密検査 (followup targets, and the dental followup).
KIND_FOLLOWUPS = {
    "hospital": ("gastric", "lung", "colorectal", "cervical", "breast"),
    "gastro": ("gastric", "colorectal"),
    "resp": ("lung",),
    "gyn": ("cervical",),
    "breast": ("breast",),
    "dental": ("periodontal",),
}
# (kind, name, ward, town, active)
INSTITUTIONS = (
    ("group", "公益財団法人ちば県民保健予防財団", "美浜区", "新港", True),
    ("group", "一般財団法人千葉健診協会", "中央区", "問屋町", True),
    ("hospital", "千葉市幸町記念病院", "美浜区", "幸町", True),
    ("hospital", "千葉市花見川中央病院", "花見川区", "花園", True),
    ("hospital", "千葉市稲毛総合病院", "稲毛区", "稲毛東", True),
    ("hospital", "千葉市みつわ台病院", "若葉区", "みつわ台", True),
    ("hospital", "千葉市おゆみ野中央病院", "緑区", "おゆみ野中央", True),
    ("internal_x", "富士見内科クリニック", "中央区", "富士見", True),
    ("internal", "佐藤内科医院", "中央区", "弁天", True),
    ("internal_x", "幕張本郷クリニック", "花見川区", "幕張本郷", True),
    ("internal", "検見川内科医院", "花見川区", "検見川町", False),
    ("internal", "小仲台クリニック", "稲毛区", "小仲台", True),
    ("internal_x", "鈴木内科医院", "稲毛区", "轟町", True),
    ("internal", "穴川内科クリニック", "稲毛区", "穴川", True),
    ("internal_x", "都賀内科クリニック", "若葉区", "都賀", True),
    ("internal", "千城台クリニック", "若葉区", "千城台北", True),
    ("internal_x", "鎌取内科医院", "緑区", "鎌取町", True),
    ("internal", "高洲ファミリークリニック", "美浜区", "高洲", True),
    ("internal", "稲毛海岸内科", "美浜区", "稲毛海岸", True),
    ("gastro", "千葉駅前胃腸科クリニック", "中央区", "新町", True),
    ("gastro", "田中消化器内科クリニック", "稲毛区", "稲毛東", True),
    ("gastro", "花園胃腸科医院", "花見川区", "花園", True),
    ("gastro", "打瀬消化器内科", "美浜区", "打瀬", True),
    ("resp", "院内呼吸器内科クリニック", "中央区", "院内", True),
    ("gyn", "高橋レディースクリニック", "中央区", "中央", True),
    ("gyn", "稲毛レディースクリニック", "稲毛区", "稲毛", True),
    ("gyn", "あすみが丘レディースクリニック", "緑区", "あすみが丘", True),
    ("breast", "千葉乳腺クリニック", "中央区", "富士見", True),
    ("breast", "海浜乳腺クリニック", "美浜区", "真砂", True),
    ("dental", "渡辺歯科医院", "中央区", "登戸", True),
    ("dental", "山本歯科クリニック", "中央区", "末広", False),
    ("dental", "幕張デンタルクリニック", "花見川区", "幕張町", True),
    ("dental", "園生歯科", "稲毛区", "園生町", True),
    ("dental", "桜木歯科医院", "若葉区", "桜木", True),
    ("dental", "都賀デンタルクリニック", "若葉区", "西都賀", True),
    ("dental", "おゆみ野デンタルクリニック", "緑区", "おゆみ野", True),
    ("dental", "真砂歯科医院", "美浜区", "真砂", True),
    ("ortho", "伊藤整形外科", "中央区", "蘇我", True),
    ("ortho", "磯辺整形外科クリニック", "美浜区", "磯辺", True),
    ("ortho", "誉田整形外科医院", "緑区", "誉田町", True),
)


# --- exam results (raw strings, as a results file would carry them) -----------------------------

GASTRIC_XRAY = _Choice(("1", "2", "3a", "3b", "4", "5"), (55.0, 37.0, 5.2, 2.0, 0.6, 0.2))
GASTRIC_XRAY_FINDINGS = {
    "1": ("", "", "", "異常なし"),
    "2": ("慢性胃炎", "胃ポリープ（良性）", "胃憩室", "胃潰瘍瘢痕", "萎縮性胃炎"),
    "3a": ("胃潰瘍", "粘膜不整", "ひだの集中"),
    "3b": ("隆起性病変", "陥凹性病変"),
    "4": ("胃体部不整陥凹（悪性の疑い）",),
    "5": ("胃前庭部進行癌の疑い",),
}
ENDOSCOPY = _Choice(("none", "suspected", "cancer"), (96.5, 3.2, 0.3))
ENDOSCOPY_FINDINGS = {
    "none": ("", "異常なし", "萎縮性胃炎", "逆流性食道炎", "胃底腺ポリープ", "表層性胃炎"),
    "suspected": ("胃体部発赤陥凹（生検）", "前庭部びらん（生検）"),
    "cancer": ("早期胃癌（0-IIc）", "進行胃癌"),
}
OTHER_ENDOSCOPY = ("食道裂孔ヘルニア", "十二指腸潰瘍瘢痕", "食道乳頭腫")
LUNG = _Choice(("A", "B", "C", "D1", "D2", "D3", "D4", "E1", "E2"),
               (0.1, 70.0, 25.0, 0.2, 1.5, 0.8, 0.4, 1.8, 0.2))
LUNG_FINDINGS = {
    "A": ("撮影不良",), "B": ("",),
    "C": ("陳旧性炎症性変化", "胸膜肥厚", "石灰化結節", "側弯"),
    "D1": ("結核の疑い",), "D2": ("肺気腫", "間質性陰影", "気管支拡張症の疑い"),
    "D3": ("心拡大", "大動脈蛇行"), "D4": ("縦隔腫瘤の疑い", "陳旧性肋骨骨折"),
    "E1": ("右上葉結節影", "左下葉腫瘤影", "肺門部陰影"), "E2": ("右上葉腫瘤影（肺がんの疑い）",),
}
SPUTUM = _Choice(("A", "B", "C", "D", "E"), (4.0, 88.0, 6.0, 1.5, 0.5))
MAMMOGRAPHY = _Choice(("1", "2", "3", "4", "5"), (70.0, 23.0, 5.5, 1.2, 0.3))
MAMMOGRAPHY_FINDINGS = {
    "1": ("",), "2": ("良性石灰化", "乳房内リンパ節", "脂肪腫"),
    "3": ("局所的非対称性陰影（FAD）", "微小円形石灰化", "境界明瞭平滑な腫瘤"),
    "4": ("微細分枝状石灰化", "構築の乱れ"), "5": ("スピキュラを伴う腫瘤",),
}
BRUSHING = _Choice(("0", "1", "2", "3"), (1.0, 18.0, 55.0, 26.0))
OTHER_CONDITION = ("高血圧症", "脂質異常症", "骨粗鬆症治療中", "気管支喘息")
FRACTURE_SITES = ("手関節", "脊椎", "肋骨", "足関節", "上腕骨", "大腿骨")
BONE_METHOD = _Choice(("QUS", "DXA", "MD"), (65.0, 25.0, 10.0))
DENTAL_FOLLOWUP_RESULTS = ("歯周炎（軽度）：歯科治療開始", "歯周炎（中等度）：歯周基本治療中",
                           "歯周炎（重度）：専門医紹介", "歯肉炎：ブラッシング指導", "異常なし")

# Per-year participation among eligible people, before the personal and age factors.
BASE_RATE = {"gastric": 0.22, "colorectal": 0.18, "lung": 0.17, "breast": 0.24, "cervical": 0.17,
             "periodontal": 0.08, "osteoporosis": 0.12, "hepatitis": 0.10}
# Engagement: most people never come, some now and then, regulars most years (mean factor 1).
ENGAGEMENT = _Choice((0.0, 1.0, 3.75), (55.0, 25.0, 20.0))
FOLLOWUP_RATE = 0.80  # of 要精検 people with a recorded 精密検査
DENTAL_FOLLOWUP_RATE = 0.25
SAME_DAY = 0.65  # exams of one 年度 taken on the person's main visit day
GROUP_PREFERENCE = 0.20  # people who go to 集団検診 for the exams it offers
# Exam days per month of the 年度 (April … March): few in spring, most in autumn.
MONTH_WEIGHTS = (2, 6, 10, 11, 9, 10, 12, 12, 9, 9, 7, 3)


def _age_factor(age: int) -> float:
    if age < 40:
        return 0.7
    if age < 60:
        return 0.75
    if age < 70:
        return 1.3
    if age < 80:
        return 1.4
    if age < 85:
        return 0.8
    if age < 90:
        return 0.35
    return 0.1 if age < 95 else 0.02


class _Items:
    """Raw item strings → (stored JSON, referral flag, 判定保留 flag), validated once per distinct
    combination."""

    def __init__(self):
        self.cache: dict[tuple, tuple[str, bool, bool]] = {}
        self.keys = {code: exam.keys for code, exam in catalogue.EXAMS.items()}
        self.to_json = Screening.items.db_value

    def get(self, exam: str, values: tuple, sex: int) -> tuple[str, bool, bool]:
        key = (exam, values)
        hit = self.cache.get(key)
        if hit is None:
            raw = dict(zip(self.keys[exam], values))
            clean, errors = catalogue.validate_items(exam, raw, sex)
            if errors:  # a bug in this module, never bad luck
                raise AssertionError(f"demo produced invalid {exam} items {raw}: {errors}")
            hit = (self.to_json(clean), catalogue.referral_flag(exam, clean),
                   catalogue.pending_flag(exam, clean))
            self.cache[key] = hit
        return hit


def _gastric_xray(rng, person, age):
    category = GASTRIC_XRAY.pick(rng)
    findings = rng.choice(GASTRIC_XRAY_FINDINGS[category])
    return (category, findings, "")


def _gastric_endoscopy(rng, person, age):
    result = ENDOSCOPY.pick(rng)
    other = rng.choice(OTHER_ENDOSCOPY) if rng.random() < 0.08 else ""
    return (result, rng.choice(ENDOSCOPY_FINDINGS[result]), "", other)


def _colorectal(rng, person, age):
    rate = 0.04 if age < 50 else 0.055 if age < 60 else 0.065 if age < 70 else 0.08
    return ("positive" if rng.random() < rate else "negative", "")


def _lung(rng, person, age):
    symptoms = "1" if rng.random() < 0.02 else "0"
    grade = LUNG.pick(rng)
    sputum = SPUTUM.pick(rng) if person.heavy_smoker and age >= 50 and rng.random() < 0.8 else ""
    return (symptoms, grade, sputum, "", rng.choice(LUNG_FINDINGS[grade]))


def _breast(rng, person, age):
    category = MAMMOGRAPHY.pick(rng)
    return (category, rng.choice(MAMMOGRAPHY_FINDINGS[category]), "")


def _cervical(rng, person, age):
    return ("1" if rng.random() < 0.04 else "0", "1" if rng.random() < 0.02 else "0")


def _periodontal(rng, person, age):
    r = rng.random
    smoking = "1" if person.smoker == 1 else "2" if person.smoker == 2 else "0"
    diabetes = "1" if r() < (0.01 if age < 40 else 0.06 if age < 60 else 0.14) else "0"
    cardio = "1" if r() < (0.0 if age < 40 else 0.02 if age < 60 else 0.07) else "0"
    obesity = "1" if r() < (0.20 if person.sex == 1 else 0.08) else "0"
    pregnancy = "1" if person.sex == 2 and age <= 40 and r() < 0.03 else "0"
    other = rng.choice(OTHER_CONDITION) if r() < 0.08 else ""
    bleeding = "1" if r() < 0.45 else "0"
    deep = 0.02 + 0.0035 * (age - 20)  # 6mm+ pockets grow with age
    shallow = 0.18 + 0.0055 * (age - 20)
    x = r()
    pocket = "2" if x < deep else "1" if x < deep + shallow else "0"
    y = r()
    if pocket != "0":
        judgement = "referral" if y < 0.9 else "guidance"
    elif bleeding == "1":
        judgement = "guidance" if y < 0.7 else "referral"
    else:
        judgement = "normal" if y < 0.7 else "guidance" if y < 0.9 else "referral"
    return (BRUSHING.pick(rng), smoking, diabetes, "1" if r() < 0.01 else "0", cardio, obesity,
            pregnancy, other, bleeding, pocket, judgement)


def _osteoporosis(rng, person, age):
    r = rng.random
    height = min(185.0, max(135.0, rng.gauss(158.5 - 0.17 * (age - 40), 5.3)))
    weight = min(110.0, max(33.0, rng.gauss(53.0 + 0.05 * (age - 40), 8.0)))
    fractured = r() < 0.05 + 0.003 * (age - 40)
    menstruating = r() < {40: 0.95, 45: 0.85, 50: 0.45, 55: 0.05}.get(age, 0.0)
    density = min(150.0, max(30.0, rng.gauss(102.0 - 0.7 * (age - 40), 11.0)))
    density = round(density, 1)
    y = r()
    if density >= 90:
        judgement = "normal" if y < 0.97 else "guidance"
    elif density >= 80:
        judgement = "guidance" if y < 0.95 else "referral"
    else:
        judgement = "referral" if y < 0.95 else "guidance"
    return (f"{weight:.1f}", f"{height:.1f}", "1" if fractured else "0",
            rng.choice(FRACTURE_SITES) if fractured else "", "1" if r() < 0.08 else "0",
            "1" if person.smoker == 1 else "0", "1" if r() < 0.015 else "0",
            "1" if menstruating else "2", BONE_METHOD.pick(rng), f"{density:.1f}", judgement)


def _hepatitis(rng, person, age):
    r = rng.random
    return ("1" if r() < 0.12 else "0", "positive" if r() < 0.004 else "negative",
            "high" if r() < 0.0025 else "low")


RESULTS = {
    "gastric_xray": _gastric_xray, "gastric_endoscopy": _gastric_endoscopy,
    "colorectal": _colorectal, "lung": _lung, "breast": _breast, "cervical": _cervical,
    "periodontal": _periodontal, "osteoporosis": _osteoporosis, "hepatitis": _hepatitis,
}
# What the demo screens, and when: a 年度's eligibility rules (ages, intervals, the 胃 group),
# plus the catalogue's sex restriction; participation rates above are the demo's own (a group a
# city adds gets OTHER_RATE).
OTHER_RATE = 0.05


def _schedule(rules: dict) -> tuple[tuple[str, tuple], ...]:
    return tuple(
        (group, tuple((code, rule, catalogue.EXAMS[code].sex) for code, rule in rules.items()
                      if (rule.group or code) == group))
        for group in dict.fromkeys(rule.group or code for code, rule in rules.items()))


def _youngest(rules: dict) -> int:
    return min((min(rule.ages) if rule.ages else rule.min_age or 0 for rule in rules.values()), default=0)


if set(BASE_RATE) != {group for group, _ in _schedule(eligibility.NATIONAL)} or any(
        len(exams) > 1 and {code for code, _, _ in exams} != {"gastric_xray", "gastric_endoscopy"}
        for _, exams in _schedule(eligibility.NATIONAL)):  # pragma: no cover - teach the demo first
    raise RuntimeError("demo participation rates do not match the eligibility rules")
FOLLOWUP_OF = {exam: target for target, exams in catalogue.FOLLOWUP_TARGET_EXAMS.items()
               for exam in exams}


class _Person:
    __slots__ = ("id", "sex", "birth", "ward", "first", "last", "smoker", "heavy_smoker",
                 "engagement", "group", "endoscopy", "salt")


# --- writers -----------------------------------------------------------------------------------

RESIDENT_COLUMNS = ("id", "atena_no", "name", "name_kana", "kana_key", "name_key", "sex",
                    "birth_date", "postal_code", "address", "resident_since", "removed_on",
                    "removal_reason", "updated_at", "togo_atena_no")
SCREENING_COLUMNS = ("resident_id", "exam", "target", "exam_date", "fiscal_year", "age",
                     "institution_id", "setting", "referral", "pending", "items", "status", "source",
                     "batch_id", "entered_at")


# --- the generator ------------------------------------------------------------------------------

def _fiscal_days(fy: int) -> list[date]:
    """Days exams happen in a 年度, repeated by month weight: Monday–Saturday, not 12/29–1/3."""
    out = []
    day, last = dates.fiscal_year_bounds(fy)
    while day <= last:
        closed = (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)
        if day.weekday() != 6 and not closed:
            out.extend([day] * MONTH_WEIGHTS[(day.month - 4) % 12])
        day += timedelta(days=1)
    return out


class _Generator:
    def __init__(self, rng: random.Random, years: int, today: date, now_text: str, batch_id: int,
                 institutions: list[tuple[int, str, str, bool]]):
        self.rng = rng
        self.today = today
        self.now_text = now_text
        self.batch_id = batch_id
        self.current_fy = dates.fiscal_year(today)
        self.first_fy = self.current_fy - years + 1
        self.first_day = dates.fiscal_year_bounds(self.first_fy)[0]
        self.items = _Items()
        self.surnames, self.given = _name_pools()
        self.names: dict[tuple, tuple[str, str, str, str]] = {}
        self.wards = _Choice(WARD_NAMES, [WARDS[w][0] for w in WARD_NAMES])
        self.towns = {w: _Choice(WARDS[w][1], [1.0] * len(WARDS[w][1])) for w in WARD_NAMES}
        self.bands = _Choice(range(len(AGE_BANDS)), AGE_BANDS)
        self.days = {fy: _fiscal_days(fy) for fy in range(self.first_fy, self.current_fy + 1)}
        # The rules table of each 年度 (one source of the rule: the entry warnings and the
        # invitation runs read the same), and what it schedules.
        self.rules = {fy: eligibility.rules_for(fy).rules for fy in range(self.first_fy - 1, self.current_fy + 1)}
        self.schedules = {fy: _schedule(rules) for fy, rules in self.rules.items()}
        self.youngest = min(_youngest(rules) for rules in self.rules.values())
        self._index_institutions(institutions)
        self.counts = {"residents": 0, "removed": 0, "screenings": 0, "referrals": 0}

    def _index_institutions(self, institutions):
        """Per (exam, ward): the institutions doing it there, all of them and the active ones."""
        self.by_exam: dict[tuple[str, bool], dict[str, list[int]]] = {}
        self.groups: dict[bool, list[int]] = {}
        self.followups: dict[tuple[str, bool], list[int]] = {}
        for current in (False, True):
            usable = [i for i in institutions if i[3] or not current]
            for exam in RESULTS:
                here = {w: [i[0] for i in usable if i[2] == w and exam in KIND_EXAMS[i[1]]
                            and i[1] != "group"] for w in WARD_NAMES}
                anywhere = [i[0] for i in usable if exam in KIND_EXAMS[i[1]] and i[1] != "group"]
                here["*"] = anywhere
                self.by_exam[(exam, current)] = here
            self.groups[current] = [i[0] for i in usable if i[1] == "group"]
            for target in (*catalogue.FOLLOWUP_TARGETS, "periodontal"):
                self.followups[(target, current)] = [
                    i[0] for i in usable if target in KIND_FOLLOWUPS.get(i[1], ())]

    # people

    def _name(self, surname, given):
        key = (surname, given)
        hit = self.names.get(key)
        if hit is None:
            kana = normalize_kana(f"{surname[1]}　{given[1]}")
            name = f"{surname[0]}　{given[0]}"
            hit = (name, kana, kana_key(kana), name_key(name))
            self.names[key] = hit
        return hit

    def person(self, resident_id: int, atena_no: str) -> tuple[tuple, _Person]:
        rng, today = self.rng, self.today
        r = rng.random
        band = self.bands.pick(rng)
        low = int(band * 5 * 365.25)
        high = int((band * 5 + (6 if band == len(AGE_BANDS) - 1 else 5)) * 365.25)
        birth = today - timedelta(days=rng.randrange(max(low, 1), high))
        sex = 1 if r() < MALE_SHARE[band] else 2
        era = 0 if birth.year < 1955 else 1 if birth.year < 1990 else 2
        name, kana, kkey, nkey = self._name(self.surnames.pick(rng), self.given[(sex, era)].pick(rng))
        ward = self.wards.pick(rng)
        postal, address = _address(rng, self.towns[ward], ward)

        since = birth
        age_days = (today - birth).days
        if r() < MOVED_IN and age_days > 2:
            since = today - timedelta(days=min(age_days - 1, int(rng.expovariate(1 / 4000)) + 1))
        removed = reason = None
        x = r()
        if x < DEATH[band] + MOVE_OUT[band] + OFFICIAL_REMOVAL:
            earliest = max(since + timedelta(days=1), today - timedelta(days=3 * 365))
            if earliest < today:
                removed = earliest + timedelta(days=rng.randrange((today - earliest).days))
                reason = ("死亡" if x < DEATH[band] else "転出" if x < DEATH[band] + MOVE_OUT[band]
                          else "職権消除")
        row = (resident_id, atena_no, name, kana, kkey, nkey, sex, birth.isoformat(), postal,
               address, since.isoformat(), removed.isoformat() if removed else None, reason,
               self.now_text, "9" + atena_no)  # 団体内統合宛名番号: unique as the 宛名番号 is

        p = _Person()
        p.id, p.sex, p.birth, p.ward = resident_id, sex, birth, ward
        p.first = max(since, self.first_day)
        p.last = min(removed - timedelta(days=1), today) if removed else today
        smoke = r()
        p.smoker = (1 if smoke < (0.25 if sex == 1 else 0.07)
                    else 2 if smoke < (0.45 if sex == 1 else 0.12) else 0)
        p.heavy_smoker = p.smoker == 1 and r() < (0.5 if sex == 1 else 0.2)
        p.engagement = ENGAGEMENT.pick(rng)
        p.group = r() < GROUP_PREFERENCE
        p.endoscopy = r() < 0.4
        p.salt = int(r() * 1_000_000)
        self.counts["residents"] += 1
        if removed:
            self.counts["removed"] += 1
        return row, p

    # screenings

    def _institution(self, p: _Person, exam: str, fy: int) -> tuple[int, int]:
        """(institution id, setting): a 集団 contractor, else a clinic near home, mostly the same one."""
        current = fy >= self.current_fy
        if p.group and exam in GROUP_EXAMS and self.rng.random() < 0.85:
            groups = self.groups[current]
            return groups[0 if self.rng.random() < 0.8 else 1 % len(groups)], 2
        lists = self.by_exam[(exam, current)]
        local = lists[p.ward] if self.rng.random() < 0.75 and lists[p.ward] else lists["*"]
        if self.rng.random() < 0.85:
            return local[p.salt % len(local)], 1
        return local[int(self.rng.random() * len(local))], 1

    def _method(self, p: _Person, eligible: list[str]) -> str:
        """胃: the person's habit (内視鏡 or X線, changing now and then) among what their age admits."""
        if len(eligible) == 1:
            return eligible[0]
        return "gastric_endoscopy" if p.endoscopy == (self.rng.random() < 0.9) else "gastric_xray"

    def _history(self, p: _Person, sex_factor: float) -> dict[str, int]:
        """Screenings before the first 年度, as far as they matter to its intervals: taken the year
        before (every-2-年度 exams, with the steady-state chance c/(1+c), so that the 年度
        alternate person by person), or ever (once-in-a-lifetime exams)."""
        before = self.first_fy - 1
        if p.birth > date(before + 1, 3, 31):
            return {}
        age = dates.age_for_basis(p.birth, before, dates.YEAR_END)
        factor = p.engagement * _age_factor(age) * sex_factor
        taken = {}
        for group, exams in self.schedules[before]:
            rules = [rule for _, rule, sex in exams
                     if (sex is None or sex == p.sex) and rule.admits_age(rule.age_of(p.birth, before))]
            if not rules:
                continue
            chance = min(BASE_RATE.get(group, OTHER_RATE) * factor, 0.95)
            if any(rule.interval == 0 for rule in rules):
                low = min(min(rule.ages) if rule.ages else rule.min_age or 0 for rule in rules)
                years = max(age - low + 1, 1)
                if self.rng.random() < 1 - (1 - chance) ** years:
                    taken[group] = before
            elif any((rule.interval or 0) >= 2 for rule in rules):
                if self.rng.random() < chance / (1 + chance):
                    taken[group] = before
        return taken

    def screenings(self, p: _Person, out: list[tuple]) -> None:
        if p.engagement == 0.0 or p.first > p.last:
            return
        r = self.rng.random
        birth = p.birth
        sex_factor = 1.1 if p.sex == 2 else 0.9
        last_taken = self._history(p, sex_factor)  # interval group → last 年度 taken
        seen: set[tuple] = set()
        for fy in range(self.first_fy, self.current_fy + 1):
            if birth > date(fy + 1, 3, 31):
                continue  # not yet born by the end of that 年度
            age = dates.age_for_basis(birth, fy, dates.YEAR_END)
            if age < self.youngest:
                continue
            factor = p.engagement * _age_factor(age) * sex_factor
            wanted = []
            rules = self.rules[fy]
            for group, exams in self.schedules[fy]:
                eligible = [code for code, rule, sex in exams
                            if (sex is None or sex == p.sex) and rule.admits_age(rule.age_of(birth, fy))]
                if not eligible:
                    continue
                exam = self._method(p, eligible)
                last = last_taken.get(group)
                if last is not None and rules[exam].too_close(fy, (last,)):
                    continue
                if r() < BASE_RATE.get(group, OTHER_RATE) * factor:
                    wanted.append(exam)
                    last_taken[group] = fy
            if not wanted:
                continue
            days = self.days[fy]
            main = days[int(r() * len(days))]
            for exam in wanted:
                day = main if r() < SAME_DAY else days[int(r() * len(days))]
                if day < p.first or day > p.last:
                    continue  # not yet (or no longer) a resident, or still in the future
                referral = self._screening(p, exam, "", day, fy, out, seen)
                if referral is None:
                    continue
                target = FOLLOWUP_OF.get(exam)
                if referral and target and r() < FOLLOWUP_RATE:
                    self._followup(p, "followup", target, day, out, seen)
                elif referral and exam == "periodontal" and r() < DENTAL_FOLLOWUP_RATE:
                    self._followup(p, "periodontal_followup", "", day, out, seen)

    def _screening(self, p, exam, target, day, fy, out, seen, institution=None):
        key = (exam, day, target)
        if key in seen:  # the partial unique index: (resident, exam, exam_date, target)
            return None
        seen.add(key)
        if exam == "followup":
            values = (target,)
        elif exam == "periodontal_followup":
            values = (self.rng.choice(DENTAL_FOLLOWUP_RESULTS),)
        else:
            values = RESULTS[exam](self.rng, p, dates.age_at_fiscal_year_end(p.birth, fy))
        items, referral, pending = self.items.get(exam, values, p.sex)
        if institution is None:
            institution, setting = self._institution(p, exam, fy)
        else:
            setting = 1
        out.append((p.id, exam, target, day.isoformat(), fy, dates.age_at(p.birth, day),
                    institution, setting, 1 if referral else 0, 1 if pending else 0, items,
                    "confirmed", "file",
                    self.batch_id, self.now_text))
        self.counts["screenings"] += 1
        if referral:
            self.counts["referrals"] += 1
        return referral

    def _followup(self, p, exam, target, after, out, seen):
        day = after + timedelta(days=self.rng.randint(14, 75))
        if day.weekday() == 6:
            day += timedelta(days=1)
        if day > p.last:
            return
        fy = dates.fiscal_year(day)
        choices = self.followups[(target or "periodontal", fy >= self.current_fy)]
        institution = choices[int(self.rng.random() * len(choices))]
        self._screening(p, exam, target, day, fy, out, seen, institution=institution)


def _institution_rows(rng: random.Random, now) -> list[dict]:
    rows, used = [], set()
    for kind, name, ward, town, active in INSTITUTIONS:
        while True:
            code = f"12{'3' if kind == 'dental' else '1'}{rng.randrange(10**7):07d}"
            if code not in used:
                used.add(code)
                break
        postal, chome = next((p, c) for t, p, c in WARDS[ward][1] if t == town)
        block = f"{rng.randint(1, chome)}丁目" if chome else ""
        rows.append({
            "code": code, "name": name, "postal_code": postal,
            "address": f"{CITY}{ward}{town}{block}{rng.randint(1, 28)}番{rng.randint(1, 24)}号",
            "phone": f"043-{rng.randint(200, 499)}-{rng.randrange(10000):04d}",
            "active": active, "updated_at": now,
        })
    return rows


def generate(residents: int, seed: int, years: int, actor: audit.Actor, progress=print) -> dict:
    """Fill an empty database with `residents` people, ~40 institutions and `years` 年度 of
    screenings ending with the current one; one audit event. Returns the counts."""
    if residents < 1 or years < 1:
        raise ValueError("residents and years must be at least 1")
    if Resident.select().exists():
        raise NotEmpty("住民データが既にあるため、デモデータは作成しません（空のデータベースにのみ作成できます）。"
                       " / The database already has residents: demo data only goes into an empty database.")
    started = time.monotonic()
    rng = random.Random(seed)
    today, now = dates.today_jst(), dates.now_utc()
    now_text = str(now)  # the form peewee stores a DateTimeField in on SQLite; PostgreSQL reads it too
    postgres = database.is_postgres()

    with db.atomic():
        batch = ImportBatch.create(
            kind="demo", file_name=f"demo-data seed={seed} residents={residents} years={years}",
            sha256=hashlib.sha256(f"demo:{seed}:{residents}:{years}".encode()).hexdigest(),
            actor=actor.label, at=now, counts={})
        institution_rows = _institution_rows(rng, now)
        Institution.insert_many(institution_rows).execute()
        codes = {row.code: row.id for row in Institution.select(Institution.code, Institution.id)}
    # (id, kind, ward, active) in declaration order, whatever ids the database gave
    institutions = [(codes[row["code"]], kind, ward, active)
                    for row, (kind, _, ward, _, active) in zip(institution_rows, INSTITUTIONS)]

    gen = _Generator(rng, years, today, now_text, batch.id, institutions)
    first_id = (Resident.select(Resident.id).order_by(Resident.id.desc()).scalar() or 0) + 1
    # 宛名番号: unique 10-digit numbers, leading zeros kept, in no particular order
    atena = rng.sample(range(1_000_000, 900_000_000), residents)

    done = 0
    while done < residents:
        size = min(RESIDENTS_PER_TRANSACTION, residents - done)
        people, screenings = [], []
        for n in range(done, done + size):
            row, person = gen.person(first_id + n, f"{atena[n]:010d}")
            people.append(row)
            gen.screenings(person, screenings)
        with db.atomic():
            database.bulk_insert("resident", RESIDENT_COLUMNS, people)
            database.bulk_insert("screening", SCREENING_COLUMNS, screenings)
        before, done = done, done + size
        if done // PROGRESS_EVERY > before // PROGRESS_EVERY or done == residents:
            progress(f"demo-data: {done:,}/{residents:,} residents, "
                     f"{gen.counts['screenings']:,} screenings ({time.monotonic() - started:.0f}s)")

    counts = {"residents": gen.counts["residents"], "removed": gen.counts["removed"],
              "institutions": len(institutions), "screenings": gen.counts["screenings"],
              "referrals": gen.counts["referrals"]}
    with db.atomic():
        if postgres:  # explicit ids were given: move the sequence past them
            db.execute_sql("SELECT setval(pg_get_serial_sequence('resident', 'id'), "
                           "(SELECT max(id) FROM resident))")
        ImportBatch.update(counts=counts).where(ImportBatch.id == batch.id).execute()
        audit.record("demo.generate", actor, object_type="import_batch", object_id=batch.id,
                     details={**counts, "seed": seed, "years": years})
    if postgres:
        db.execute_sql("ANALYZE resident")
        db.execute_sql("ANALYZE screening")
    return counts
