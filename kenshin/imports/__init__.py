"""Reading import files: the CSV reader with FORMATS.md's general rules, and uploads kept
between preview and confirm.
"""
