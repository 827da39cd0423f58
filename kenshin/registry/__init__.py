"""The resident registry extract and what depends on it: residents and the programme rule,
the resident import, the person concerned by a request, cooperating institutions.
"""
