"""Fuzzing: random YAML and mutated shipped specs must compile or give located diagnostics,
through the API and through the CLI.

Each property runs twice: a short profile (2,000 cases in all, derandomized) by default,
and a long one (120,000 cases, random) marked slow and run only on demand:

    NNCOMPILE_FUZZ=long python3 -m pytest tests/fuzz -q -k long
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_harness import LONG, check_api, check_cli, write_case
from fuzz_strategies import random_documents, spec_mutation


def two_profiles(strategy, short: int, long: int):
    """(short test, long test) of one property over strategy."""

    def make(body):
        common = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True)
        short_test = settings(max_examples=short, derandomize=True, **common)(given(strategy)(body))
        long_test = settings(max_examples=long, **common)(given(strategy)(body))
        on_demand = pytest.mark.skipif(not LONG, reason="the long fuzz profile runs with NNCOMPILE_FUZZ=long")
        return short_test, pytest.mark.slow(on_demand(long_test))

    return make


def _random_document(text):
    check_api(write_case(text))


def _mutated_spec(case):
    beside, text = case
    check_api(write_case(text, beside))


def _through_the_cli(case):
    beside, text = case
    check_cli(write_case(text, beside))


test_random_documents, test_random_documents_long = two_profiles(random_documents, 1000, 40_000)(_random_document)
test_mutated_specs, test_mutated_specs_long = two_profiles(spec_mutation(), 600, 60_000)(_mutated_spec)
test_cli_contract_holds, test_cli_contract_holds_long = two_profiles(
    st.one_of(random_documents.map(lambda text: (None, text)), spec_mutation()), 400, 20_000)(_through_the_cli)
