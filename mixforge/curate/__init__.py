"""Curation stages over the document table: exact and fuzzy dedup, filters, language ID."""
