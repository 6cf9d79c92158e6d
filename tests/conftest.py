import os

import pytest
from hypothesis import HealthCheck, settings

# CI runs on 2 cores: enough examples to find real bugs, no per-example deadline (torch warm-up varies).
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("MMTOK_HYPOTHESIS", "ci"))


@pytest.fixture(scope="session")
def text_tok():
    import mmtok

    return mmtok.TextTokenizer.default()


@pytest.fixture(scope="session")
def vocab(text_tok):
    return text_tok.vocab
