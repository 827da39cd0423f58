"""Screening records: the exam catalogue (items, 要精検 and 判定保留 rules, the outcome of a
screening), the items beyond the assessment's 別添1 and their switch (extensions), eligibility,
records and corrections, identity matching, keyed entry, the reconciliation queue, clinic result
files.
"""
