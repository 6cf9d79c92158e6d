"""The sequence format, below every modality: the unified vocabulary, segments and spans, ``TokenSequence`` and
``pack``, 1D/3D positions, typed span metadata, features, manifests, batches, the modality protocol and the
one registry helper. Imports no modality (``import-linter`` holds this in CI)."""
