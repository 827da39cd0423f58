"""Invitations (個別通知・受診券): whom to invite, by the city's own rules, with a 整理番号.

- `rules`: the per-年度 screening rules (対象者の条件) — versions, edits by a supervisor, the
  和暦 birth-date ranges; `rules show`. (The rule itself is kenshin.screening.eligibility.)
- `seiri`: 整理番号 — 9-digit serial + Luhn check digit, the one check every screen and import uses.
- `extraction`: extraction runs in set-based SQL (initial, top-up with 送付停止, 再勧奨), the preview
  of counts, per-person exclusions, and the contractor CSV export.
- `barcode`: the 整理番号 as a Code 128 SVG for the printed 受診券.
"""
