"""Provision to other offices through the intermediate server (中間サーバー), FORMATS.md "Provision".

The assessment's fifth use of the file (II.3 ⑤) and its three guards (III.6):
- `permitted`: the permitted-query list (照会許可用照合リスト) imported from the network's file
  (all or nothing, audited); a query off the list is refused and audited with the reason;
- `flags`: which items carry the 自動応答不可 flag (`results` by default), a setting with history;
  a query for a flagged item is held until a supervisor approves exactly what goes out;
- `queries`: receiving a query (person by 団体内統合宛名番号, never the 個人番号), building the
  answer from counted screenings only, hold / approve / decline, the held-too-long flag, and the
  provision record (every step, searchable by person, kept 7 years);
- `content`: the items themselves (`history`, `results`).
The HTTP side (token, allowed addresses, JSON) is blueprints/provision.py; nothing here imports Flask.
"""
