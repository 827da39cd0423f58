"""Verified entry (ベリファイ入力): a keyed form counts only once a second, blind keying agrees.

LESSONS.md #4: one person keying alone turned 要精検 into 異常認めず. So a keyed form is saved
`pending` (未確定) and its keying is kept as round 1 of `screening_keying`; a different staff
member keys the verified items of a batch of pending forms again without seeing the first values
(round 2). Agreement confirms the screening; differences are resolved against the paper, each
with a reason. Every step writes its audit event in the same transaction; details name item
keys, never values.

- rules: the VERIFY_ALL_ITEMS setting, verified items, the words a refused keyer reads
- seen: who has seen a pending form's first values (blindness) and what each person may do
- oversight: the pending list in batches (institution, exam, day of entry), what is overdue
- desk: one batch, one form at a time
- second: the second keying and the resolution of differences
- trace: what a supervisor reads afterwards
- corrections: a correction of a confirmed record that changes what is verified waits for a
  second person (the screens use `verification.corrections`)

Callers use the package: `from kenshin import verification; verification.key_second(...)`.
"""
from .rules import *  # noqa: F401,F403
from .seen import *  # noqa: F401,F403
from .oversight import *  # noqa: F401,F403
from .desk import *  # noqa: F401,F403
from .second import *  # noqa: F401,F403
from .trace import *  # noqa: F401,F403
from .corrections import *  # noqa: F401,F403
from . import corrections  # noqa: F401
