"""While one thread refreshes credentials ahead, the others are served the still-valid
credentials without the cache's slow path (issue 9, target 7), and never credentials
that expired meanwhile: those callers wait for the refresh."""

from __future__ import annotations

import threading

from django_alioss.credentials import CredentialsProvider, build_provider
from django_alioss.credentials.providers import EXPIRY_SKEW
from tests.backend.conftest_credentials import FakeClock, FakeSource


def refreshing_provider() -> tuple[CredentialsProvider, FakeSource, FakeClock, threading.Event,
                                   threading.Thread]:
    """A provider whose refresh-ahead is in progress (held at the source's gate)."""
    clock = FakeClock()
    source = FakeSource(clock)
    provider = build_provider({"credentials_provider": source, "environ": {}}, clock=clock,
                              shared=False)
    provider.snapshot()
    clock.advance(3600 - 800)  # inside the refresh window, still valid
    gate = source.block_next()
    refresher = threading.Thread(target=provider.snapshot)
    refresher.start()
    assert source.entered.wait(5)
    return provider, source, clock, gate, refresher


def test_others_get_the_still_valid_snapshot_and_credentials() -> None:
    provider, source, _, gate, refresher = refreshing_provider()
    old = [provider.snapshot() for _ in range(100)]
    old_creds = {provider.get_credentials().get_access_key_id() for _ in range(100)}
    gate.set()
    refresher.join(5)
    assert {snap.access_key_id for snap in old} == old_creds == {"STS.FakeKey000000000001"}
    assert provider.snapshot().access_key_id == "STS.FakeKey000000000002"
    assert source.calls == 2


def test_credentials_that_expired_during_the_refresh_are_not_served() -> None:
    provider, source, clock, gate, refresher = refreshing_provider()
    clock.advance(800 - EXPIRY_SKEW)  # the old credentials are no longer usable
    got: list[str] = []
    caller = threading.Thread(target=lambda: got.append(provider.snapshot().access_key_id))
    caller.start()
    gate.set()
    refresher.join(5)
    caller.join(5)
    assert got == ["STS.FakeKey000000000002"] and source.calls == 2
