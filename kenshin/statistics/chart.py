"""The indicator chart as server-rendered SVG (no JavaScript): one horizontal bar per exam and
rate on a 0–100% axis, the 許容値 drawn as a dashed line and the 目標値 as a solid one, the bar
coloured by the judgement, the value written beside it — readable printed in black and white too
(the judgement is also a word and a pattern: hatched when below the 許容値)."""
from __future__ import annotations

from decimal import Decimal
from html import escape

from kenshin.statistics.indicators import FAIR, GOOD, NONE, POOR, ExamIndicators

COLOURS = {GOOD: "#2e7d32", FAIR: "#f9a825", POOR: "#c62828", NONE: "#78909c"}
MARKS = {GOOD: "◎", FAIR: "○", POOR: "×", NONE: "－"}
LABEL_W, BAR_W, ROW_H, TOP = 190, 420, 22, 30


def _x(percent: Decimal | float, scale: float) -> float:
    return LABEL_W + min(float(percent), scale) / scale * BAR_W


def svg(indicators: list[ExamIndicators], indicator: str, title: str, scale: float = 100.0) -> str:
    """One chart for one rate across exams (scale: the axis' right end in percent)."""
    rows = [(e, r) for e in indicators for r in e.rates if r.indicator == indicator]
    height = TOP + ROW_H * max(1, len(rows)) + 30
    width = LABEL_W + BAR_W + 120
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="indicator-chart" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'aria-labelledby="chart-{indicator}-title">',
           f'<title id="chart-{indicator}-title">{escape(title)}</title>',
           '<defs><pattern id="hatch-' + indicator + '" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#c62828"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern></defs>',
           f'<text x="4" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for tick in range(0, 101, 25):
        value = scale * tick / 100
        x = _x(value, scale)
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{height - 24}" stroke="#ccc"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 10}" font-size="11" text-anchor="middle">'
                   f'{value:g}%</text>')
    for i, (exam, rate) in enumerate(rows):
        y = TOP + i * ROW_H
        out.append(f'<text x="{LABEL_W - 6}" y="{y + 15}" font-size="12" text-anchor="end">'
                   f'{escape(exam.exam_name)}</text>')
        if rate.value is None:
            out.append(f'<text x="{LABEL_W + 4}" y="{y + 15}" font-size="12">対象者なし</text>')
            continue
        fill = f"url(#hatch-{indicator})" if rate.judgement == POOR else COLOURS[rate.judgement]
        w = _x(rate.value, scale) - LABEL_W
        out.append(f'<rect x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" height="{ROW_H - 8}" fill="{fill}" '
                   f'stroke="#333" stroke-width="0.5"><title>{escape(exam.exam_name)} {rate.value}% '
                   f'{escape(rate.judgement_label)}</title></rect>')
        for limit, dash in ((rate.acceptable, "4 3"), (rate.target, "")):
            if limit is not None:
                lx = _x(limit, scale)
                dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
                out.append(f'<line x1="{lx:.1f}" y1="{y}" x2="{lx:.1f}" y2="{y + ROW_H - 2}" '
                           f'stroke="#000" stroke-width="2"{dash_attr}/>')
        out.append(f'<text x="{LABEL_W + BAR_W + 8}" y="{y + 15}" font-size="12">'
                   f'{MARKS[rate.judgement]} {rate.value}%</text>')
    out.append("</svg>")
    return "".join(out)


def legend() -> list[tuple[str, str, str]]:
    """(judgement, mark, label) in order; the swatch colours are classes in followup.css (CSP:
    no inline styles), the same colours as COLOURS."""
    from kenshin.statistics.indicators import JUDGEMENT_LABELS

    return [(k, MARKS[k], JUDGEMENT_LABELS[k]) for k in (GOOD, FAIR, POOR, NONE)]
