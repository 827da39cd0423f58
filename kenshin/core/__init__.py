"""Plain building blocks with no database: errors, dates (和暦/年度/age), holidays, kana, names and
variants, free-text input, lists and CSV. Standard library and jaconv only.
"""
