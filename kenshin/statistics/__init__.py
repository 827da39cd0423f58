"""Statistics of counted screenings.

- `report`: `report screenings` (FORMATS.md "Screening report"), one set-based query per 年度.
- `indicators`: the national process indicators (受診者数, 要精検率, 精検受診率, 精検未把握率)
  against 許容値 / 目標値 settings, an SVG chart, and drill-down from a count to its people.
- `basis`: what statistics read from the judgement outcome and the screening rules.
"""
