"""Every module in tests/app runs AppTest through ``app.py`` and against a temporary registry,
so ~/.medinn is never touched. Module-scoped: the modules' own module-scoped sessions need both."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import app_test as app_test_module

from .helpers import _NavigationOnly


@pytest.fixture(scope="module", autouse=True)
def navigation_only():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_test_module, "PagesManager", _NavigationOnly)
        yield


@pytest.fixture(scope="module", autouse=True)
def bugs_raise():
    """A bug on a page raises, as it is, instead of the plain message users see: tests must
    not mistake one for a page that drew. ``test_guard`` switches it off to test the guard."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDINN_DEBUG", "1")
        yield


@pytest.fixture(scope="module", autouse=True)
def medinn_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("medinn_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDINN_HOME", str(home))
        yield home
