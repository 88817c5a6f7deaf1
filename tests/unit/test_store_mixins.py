"""The store is composed of one mixin per concern; a name two mixins both define would silently shadow one
of them (the method resolution order picks the first), as a shared `_SQL_BACKLOG` once did."""

from __future__ import annotations

import pytest

from store import SqlStore, SqlUnitOfWork


@pytest.mark.parametrize("composed", [SqlStore, SqlUnitOfWork], ids=lambda c: c.__name__)
def test_no_two_mixins_of_the_store_define_the_same_name(composed):
    seen: dict[str, str] = {}
    clashes = []
    for mixin in composed.__mro__[1:]:
        if mixin is object or not mixin.__module__.startswith("store."):
            continue
        for name in vars(mixin):
            if name.startswith("__") or name in ("_abc_impl",):
                continue
            if name in seen and seen[name] != mixin.__name__:
                clashes.append(f"{name}: {seen[name]} and {mixin.__name__}")
            seen.setdefault(name, mixin.__name__)
    assert clashes == []
