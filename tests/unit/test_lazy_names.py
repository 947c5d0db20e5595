"""The packages whose names load with their module on first use (common.lazy_names) still give
every name they list, and refuse the names they do not."""

from __future__ import annotations

from types import ModuleType

import pytest

import common.posts
from common.lazy_names import lazy_names
from common.posts import figures

PACKAGES = (common.posts,)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_listed_name_resolves_and_stays_on_the_package(package: ModuleType) -> None:
    for name in package.__all__:
        value = getattr(package, name)
        assert vars(package)[name] is value


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_a_name_the_package_does_not_list_is_an_attribute_error(package: ModuleType) -> None:
    with pytest.raises(AttributeError, match="has no attribute 'not_a_name'"):
        _ = package.not_a_name


def test_a_name_is_the_object_its_module_defines() -> None:
    lookup = lazy_names("common.posts", {"figures": ("queue_counts",)})
    assert lookup("queue_counts") is figures.queue_counts
    with pytest.raises(AttributeError):
        lookup("list_page")  # common.posts gives it, but not through this mapping
