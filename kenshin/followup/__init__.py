"""要精検 follow-up (精検管理): who was referred and whether a 精密検査 followed.

- `link`: the derived link between a referred screening and its 精密検査 (one year, same target),
  in Python for one record and in SQL for sets.
- `worklist`: the follow-up list per exam and 年度 (精検受診 / 未把握, days since, reminders), the
  判定保留 list, and the audited opening of a person from them.
- `reminders`: print runs of 受診勧奨 letters and 精検結果連絡票, audited with counts.
"""
