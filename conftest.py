"""Root conftest: names available to the doctests in ``hpo/``."""

import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    import hpo

    doctest_namespace["hpo"] = hpo
