"""Pure CRI <-> Docker translation: validation, create bodies, status conversion, names,
filters.
"""
