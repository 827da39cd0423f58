"""Screening records: the exam catalogue, eligibility, records and corrections, identity matching,
keyed entry, the reconciliation queue, clinic result files.
"""
