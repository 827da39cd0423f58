"""Verified entry (ベリファイ入力): a keyed form counts only once a second, blind keying agrees."""
from .keying import *  # noqa: F401,F403
