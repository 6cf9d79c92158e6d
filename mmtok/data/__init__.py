"""Corpus tokenization on Ray Data into Parquet shards (the ``scale`` extra); see :mod:`mmtok.data.pipeline`."""

from .pipeline import (
                       CorpusConfig,
                       CorpusSummary,
                       TokenizeBatch,
                       iter_sequences,
                       read_corpus,
                       read_errors,
                       tokenize_corpus,
)

__all__ = ["CorpusConfig", "CorpusSummary", "TokenizeBatch", "tokenize_corpus", "iter_sequences", "read_errors",
           "read_corpus"]
