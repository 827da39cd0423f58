"""Reviewed kanji variant table for name matching: variant -> representative (VARIANTS).

Where each pair comes from (every pair below belongs to exactly one of these sources):
- `_JOYO`: 常用漢字表 (平成22年内閣告示第2号) — the 康熙字典体 printed in brackets beside a
  常用 character is its variant (齋 -> 斎, 邊 -> 辺, 濱 -> 浜 ...).
- `_JINMEI`: 人名用漢字 (戸籍法施行規則 別表第二) — the pairs its 一 and 二 list as 異体字 of
  one another (島/嶋, 富/冨 ...).
- `_NAMES`: 俗字 and 異体字 that registries and hand-written forms swap in 氏名 but that no
  official list pairs (髙 -> 高, 﨑 -> 崎, 邉 -> 辺 ...); each line names its pair and an example.
Characters that merely look alike or are written for each other by mistake are NOT variants
and are not folded: 斉 (齊) and 斎 (齋) are two different characters (斉藤 and 斎藤 are two
surnames), so 斉藤 never matches 齋藤 as 「異体字で氏名一致」.
"""
from __future__ import annotations

import unicodedata

# Why our own table: the PyPI packages were evaluated and rejected (see docs in names.py).
# Rules kept here:
# - one representative per group; a representative is never itself mapped (no chains);
# - only pairs a registry name and a hand-written form really swap; no transitive
#   closure over a variant graph (that merges 崎 with 埼 and 碕, 濱 with 頻 ...);
# - CJK compatibility ideographs such as 塚 (U+FA10) or 隆 (U+F9DC) are not listed:
#   name_key applies NFC, which maps them to their unified form (both are the same
#   character by Unicode's definition). 﨑 (U+FA11) is one of the twelve that NFC
#   leaves alone, so it is listed.
# Each group below is written representative first, then its variants.

# 常用漢字表 (平成22年内閣告示第2号), the 康熙字典体 printed in brackets beside each
# character. Left out on purpose: 弁 (辨・瓣・辯 are three different characters), 欠 (缺),
# 缶 (罐); and those whose bracketed form is a compatibility ideograph (NFC does them).
_JOYO = """
亜亞 悪惡 圧壓 囲圍 医醫 為爲 壱壹 隠隱 栄榮 営營 衛衞 駅驛 円圓 塩鹽 縁緣 艶艷
応應 欧歐 殴毆 桜櫻 奥奧 横橫 温溫 穏穩 仮假 価價 画畫 会會 絵繪 壊壞 懐懷 概槪
拡擴 殻殼 覚覺 学學 岳嶽 楽樂 渇渴 巻卷 陥陷 勧勸 寛寬 関關 歓歡 観觀 気氣 帰歸
亀龜 偽僞 戯戲 犠犧 旧舊 拠據 挙擧 虚虛 峡峽 挟挾 狭狹 郷鄕 暁曉 区區 駆驅 勲勳
薫薰 径徑 茎莖 恵惠 掲揭 渓溪 経經 蛍螢 軽輕 継繼 鶏鷄 芸藝 撃擊 研硏 県縣 倹儉
剣劍 険險 圏圈 検檢 献獻 権權 顕顯 験驗 厳嚴 広廣 効效 恒恆 黄黃 鉱鑛 号號 国國
黒黑 砕碎 済濟 斎齋 剤劑 雑雜 参參 桟棧 蚕蠶 惨慘 賛贊 残殘 糸絲 歯齒 児兒 辞辭
湿濕 実實 写寫 釈釋 寿壽 収收 従從 渋澁 獣獸 縦縱 粛肅 処處 緒緖 叙敍 将將 称稱
渉涉 焼燒 証證 奨奬 条條 状狀 乗乘 浄淨 剰剩 畳疊 縄繩 壌壤 嬢孃 譲讓 醸釀 触觸
嘱囑 真眞 寝寢 慎愼 尽盡 図圖 粋粹 酔醉 穂穗 随隨 髄髓 枢樞 数數 瀬瀨 声聲 斉齊
静靜 窃竊 摂攝 専專 浅淺 戦戰 践踐 銭錢 潜潛 繊纖 禅禪 双雙 壮壯 争爭 荘莊 捜搜
挿插 巣巢 曽曾 痩瘦 装裝 総總 騒騷 増增 蔵藏 臓臟 即卽 属屬 続續 堕墮 対對 体體
帯帶 滞滯 台臺 滝瀧 択擇 沢澤 担擔 単單 胆膽 団團 断斷 弾彈 遅遲 痴癡 虫蟲 昼晝
鋳鑄 庁廳 徴徵 聴聽 勅敕 鎮鎭 逓遞 鉄鐵 点點 転轉 伝傳 灯燈 当當 党黨 盗盜 稲稻
闘鬭 徳德 独獨 読讀 届屆 弐貳 悩惱 脳腦 覇霸 拝拜 廃廢 売賣 麦麥 発發 髪髮 抜拔
晩晚 蛮蠻 秘祕 浜濱 瓶甁 払拂 仏佛 併倂 並竝 餅餠 辺邊 変變 歩步 宝寶 豊豐 褒襃
翻飜 毎每 万萬 満滿 麺麵 黙默 弥彌 訳譯 薬藥 与與 予豫 余餘 誉譽 揺搖 様樣 謡謠
来來 頼賴 乱亂 覧覽 竜龍 両兩 猟獵 緑綠 涙淚 塁壘 礼禮 励勵 戻戾 霊靈 齢齡 暦曆
歴歷 恋戀 錬鍊 炉爐 労勞 郎郞 楼樓 録錄 湾灣
"""

# 人名用漢字 (戸籍法施行規則 別表第二): the pairs of 一 that are not compatibility
# ideographs, and the 異体字 of 二 whose 常用 partner is not in the list above.
_JINMEI = """
亘亙 凜凛 尭堯 巌巖 晃晄 桧檜 槙槇 祢禰 祷禱 禄祿 穣穰 萌萠 遥遙
園薗 駆駈 島嶋 富冨 峰峯 野埜 涼凉
"""

# Forms common in 氏名 (俗字 and 異体字 found in registries and on forms) that no
# official list above pairs. One line each, with the pair spelt out.
_NAMES: dict[str, str] = {
    "\u9ad9": "高",  # 髙 (はしご高) -> 高: 髙橋, 髙田
    "\ufa11": "崎",  # 﨑 (たつさき, U+FA11; NFC keeps it) -> 崎: 山﨑
    "嵜": "崎",  # 嵜 (山 on top) -> 崎: 山嵜
    "邉": "辺",  # 邉 -> 辺 (邊 is in the 常用 list): 渡邉
    "濵": "浜",  # 濵 -> 浜 (濱 is in the 常用 list): 濵田
    "嶌": "島",  # 嶌 -> 島 (嶋 is in the 人名用 list): 小嶌
    "藪": "薮",  # 藪 -> 薮: 藪内 / 薮内
    "籔": "薮",  # 籔 (bamboo radical) -> 薮: 籔下
    "栁": "柳",  # 栁 -> 柳: 栁田
    "桺": "柳",  # 桺 -> 柳
    "\U00020bb7": "吉",  # 𠮷 (つちよし, U+20BB7) -> 吉: 𠮷田
    "槗": "橋",  # 槗 -> 橋
    "渕": "淵",  # 渕 (俗字) -> 淵: 田渕 / 田淵
    "圀": "国",  # 圀 (則天文字) -> 国: 光圀
    "邨": "村",  # 邨 -> 村: 中邨
    "礒": "磯",  # 礒 -> 磯: 礒部 / 磯部
    "舘": "館",  # 舘 -> 館: 舘野 / 館野
    "桒": "桑",  # 桒 -> 桑: 桒原
    "舩": "船",  # 舩 -> 船: 舩木
    "漥": "窪",  # 漥 -> 窪: 漥田
    "劒": "剣",  # 劒 -> 剣: 劒持
    "剱": "剣",  # 剱 -> 剣: 剱持
    "劔": "剣",  # 劔 -> 剣
    "釼": "剣",  # 釼 -> 剣: 釼持
    "靏": "鶴",  # 靏 -> 鶴: 靏田
    "靍": "鶴",  # 靍 -> 鶴: 靍見
    "廸": "迪",  # 廸 -> 迪 (given names)
    "曻": "昇",  # 曻 -> 昇 (given names)
    "昻": "昂",  # 昻 -> 昂 (given names)
    "蘆": "芦",  # 蘆 -> 芦: 蘆田 / 芦田
    "鷗": "鴎",  # 鷗 -> 鴎
    "豬": "猪",  # 豬 -> 猪: 豬俣
    "晉": "晋",  # 晉 -> 晋
    "篭": "籠",  # 篭 (俗字) -> 籠
    "吳": "呉",  # 吳 (U+5433) -> 呉 (U+5449)
    "敎": "教",  # 敎 -> 教
    "靑": "青",  # 靑 (U+9751) -> 青 (U+9752)
    "淸": "清",  # 淸 (U+6DF8) -> 清 (U+6E05)
    "彥": "彦",  # 彥 (U+5F65) -> 彦 (U+5F66)
    "歲": "歳",  # 歲 (U+6B72) -> 歳 (U+6B73)
    "戶": "戸",  # 戶 (U+6236) -> 戸 (U+6238)
    "內": "内",  # 內 (U+5167) -> 内 (U+5185)
    "瑤": "瑶",  # 瑤 -> 瑶
    "聰": "聡",  # 聰 -> 聡
    "寳": "宝",  # 寳 -> 宝 (寶 is in the 常用 list)
    "顏": "顔",  # 顏 (U+984F) -> 顔 (U+9854)
    "蔣": "蒋",  # 蔣 -> 蒋
    "曺": "曹",  # 曺 -> 曹 (Korean surname)
    "裵": "裴",  # 裵 -> 裴 (Korean surname)
}


def _build() -> dict[str, str]:
    table: dict[str, str] = {}
    for block in (_JOYO, _JINMEI):
        for group in block.split():
            rep, variants = group[0], group[1:]
            for v in variants:
                table[v] = rep
    table.update(_NAMES)
    # follow a variant to its final representative, once, here (no chain exists today)
    for v, rep in table.items():
        seen = {v}
        while rep in table:
            if rep in seen:
                raise ValueError(f"variant cycle at {rep}")
            seen.add(rep)
            rep = table[rep]
        table[v] = rep
    # anything NFC already folds would never be looked up
    return {v: r for v, r in table.items() if unicodedata.normalize("NFC", v) == v}


VARIANTS: dict[str, str] = _build()
