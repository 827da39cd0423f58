"""Clinic results in the national FHIR format (自治体検診結果報告書 HL7 FHIR 記述仕様 第1版).

ig — the IG's tables (items, code systems), generated from shared/reference; mapping — what the
catalogue makes of them (one place); reader — one bundle → rows or a refusal at an entry path;
importer — `import-fhir` and the upload screen: a set of bundles through the results import's
pipeline (matching, queue, duplicates); export — a person's history as IG bundles.
"""
