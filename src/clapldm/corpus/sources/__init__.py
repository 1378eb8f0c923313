"""Corpus sources: Debian sound packages and synthetic renders.

The source table lives in :mod:`clapldm.corpus.sources.registry` (imported lazily so that the
word tables in :mod:`clapldm.corpus.sources.words` can be used by the caption writer alone).
"""
