"""The credentials cache, driven by a plain Python source and a hand-moved clock.

No SDK and no network here: ``credentials_provider=<callable>`` puts a FakeSource
behind the same cache RRSA uses (tests against STS are in test_credentials_rrsa.py).
"""

from __future__ import annotations

import calendar
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import oss2
import pytest

from django_alioss.credentials import (
    CredentialsProvider,
    CredentialsUnavailable,
    Snapshot,
    build_provider,
)
from django_alioss.credentials.providers import EXPIRY_SKEW, UNKNOWN_EXPIRY_REFRESH
from tests.backend.conftest_credentials import (
    FakeClock,
    FakeSource,
    Issued,
    assert_unchained_and_clean,
)


def fake_provider(lifetime: float = 3600.0) -> tuple[CredentialsProvider, FakeSource, FakeClock]:
    clock = FakeClock()
    source = FakeSource(clock, lifetime)
    provider = build_provider({"credentials_provider": source, "environ": {}},
                              clock=clock, shared=False)
    return provider, source, clock


def test_first_use_fetches_once_and_later_calls_are_cached() -> None:
    provider, source, _ = fake_provider()
    assert source.calls == 0, "building a provider must not fetch"
    first = provider.get_credentials()
    assert isinstance(first, oss2.credentials.Credentials)
    assert first.get_access_key_id() == "STS.FakeKey000000000001"
    assert first.get_security_token().startswith("CAISfaketoken")
    for _ in range(1000):
        assert provider.get_credentials() is first
    snap = provider.snapshot()
    assert isinstance(snap, Snapshot)
    assert snap.access_key_id == first.get_access_key_id()
    assert snap.source == "custom"
    assert source.calls == 1


@pytest.mark.parametrize(("lifetime", "margin"), [(3600, 900), (900, 300), (43200, 10800)])
def test_refresh_ahead_at_max_of_300s_and_a_quarter(lifetime: float, margin: float) -> None:
    provider, source, clock = fake_provider(lifetime)
    first = provider.snapshot()
    clock.advance(lifetime - margin - 1)
    assert provider.snapshot() is first
    assert source.calls == 1
    clock.advance(2)
    second = provider.snapshot()
    assert second is not first and source.calls == 2
    assert second.expiration == pytest.approx(clock() + lifetime)


def test_lifetime_900_refreshes_at_most_once_per_600s_of_clock() -> None:
    provider, source, clock = fake_provider(900)
    for _ in range(3600 // 5 + 1):  # t = 0, 5, ..., 3600
        provider.get_credentials()
        clock.advance(5)
    # one initial fetch, then one per 600 s of clock (t = 600, ..., 3600): 6 refreshes
    assert source.calls == 1 + 3600 // 600


def test_short_lived_credentials_do_not_cause_a_fetch_per_request() -> None:
    provider, source, clock = fake_provider(120)
    for _ in range(120):
        provider.get_credentials()
        clock.advance(1)
    assert 2 <= source.calls <= 6


def test_single_flight_while_valid_others_do_not_wait() -> None:
    provider, source, clock = fake_provider()
    old = provider.get_credentials()
    clock.advance(3600 - 800)  # inside the refresh window, still valid
    gate = source.block_next()
    refresher = threading.Thread(target=provider.get_credentials)
    refresher.start()
    assert source.entered.wait(5)
    barrier = threading.Barrier(32)

    def call() -> tuple[object, float]:
        barrier.wait()
        started = time.perf_counter()
        got = provider.get_credentials()
        return got, time.perf_counter() - started

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(lambda _: call(), range(32)))
    gate.set()
    refresher.join(5)
    assert all(got is old for got, _ in results), "callers kept the still-valid credentials"
    assert max(elapsed for _, elapsed in results) < 1.0, "nobody waited for the refresher"
    assert source.calls == 2
    assert provider.get_credentials() is not old


def test_single_flight_without_valid_credentials_everyone_waits_for_one_fetch() -> None:
    provider, source, _ = fake_provider()
    source.delay = 0.3
    barrier = threading.Barrier(32)

    def call() -> str:
        barrier.wait()
        return provider.get_credentials().get_access_key_id()

    with ThreadPoolExecutor(32) as pool:
        keys = list(pool.map(lambda _: call(), range(32)))
    assert source.calls == 1
    assert set(keys) == {"STS.FakeKey000000000001"}


def test_failed_refresh_keeps_last_good_until_expiry_with_backoff(
        caplog: pytest.LogCaptureFixture) -> None:
    provider, source, clock = fake_provider()
    good = provider.snapshot()
    source.fail = ConnectionError("STS unreachable")
    clock.advance(3600 - 890)  # refresh window (900 s before the expiry)
    for _ in range(200):
        assert provider.snapshot() is good
    assert source.calls == 2, "one attempt, then back off (not one per call)"
    assert provider.describe()["consecutive_failures"] == 1
    clock.advance(0.49)
    provider.snapshot()
    assert source.calls == 2, "first retry not before 0.5 s"
    clock.advance(0.52)
    provider.snapshot()
    assert source.calls == 3
    # Delays double (with jitter) up to a minute: over 13 minutes only a handful of tries.
    for _ in range(800):
        clock.advance(1)
        assert provider.snapshot() is good
    # bounds from the shortest / longest jittered delays (half to full of 1, 2, 4 ... 60 s)
    assert 18 <= source.calls <= 36
    info = provider.describe()
    assert info["refresh_failures"] == source.calls - 1
    assert "STS unreachable" in info["last_error"]
    # Past the expiry (minus the skew) the error surfaces, with what was tried.
    clock.advance(good.expiration - clock() - EXPIRY_SKEW)
    with pytest.raises(CredentialsUnavailable) as excinfo:
        provider.get_credentials()
    message = str(excinfo.value)
    assert "custom" in message and "STS unreachable" in message
    assert "expired at" in message and "next attempt in" in message
    assert good.access_key_secret not in message and good.security_token not in message
    warnings = [r for r in caplog.records if r.name == "django_alioss"
                and r.levelname == "WARNING"]
    assert warnings and all(good.access_key_secret not in r.getMessage() for r in warnings)


def test_errors_carry_no_secret_in_their_exception_chain() -> None:
    """A source's exception may quote secrets (a token in a URL, the keys in use); what
    we raise describes it, scrubbed, and is not chained to it (not even as the hidden
    ``__context__``)."""
    provider, source, clock = fake_provider()
    leaked_token = "CAISleakedtoken0123456789abcdefXYZ"
    source.fail = ConnectionError(f"GET https://sts.example/?SecurityToken={leaked_token}")
    raised = []
    with pytest.raises(CredentialsUnavailable) as first:  # first use fails
        provider.get_credentials()
    raised.append(first.value)
    with pytest.raises(CredentialsUnavailable) as backing_off:  # within the backoff
        provider.get_credentials()
    raised.append(backing_off.value)
    source.fail = None
    clock.advance(61)
    good = provider.snapshot()
    # The next failure quotes the credentials in use; then they expire.
    source.fail = RuntimeError(f"rejected {good.access_key_secret} / {good.security_token} "
                               f"and {leaked_token}")
    clock.advance(good.expiration - clock() + 1)
    with pytest.raises(CredentialsUnavailable) as expired:
        provider.get_credentials()
    raised.append(expired.value)
    assert_unchained_and_clean(raised, leaked_token, good.access_key_secret,
                               good.security_token)


def test_recovery_after_failures_resets_backoff() -> None:
    provider, source, clock = fake_provider()
    good = provider.snapshot()
    source.fail = RuntimeError("boom")
    clock.advance(3000)
    provider.snapshot()
    source.fail = None
    clock.advance(2)
    fresh = provider.snapshot()
    assert fresh is not good and source.calls == 3
    info = provider.describe()
    assert info["consecutive_failures"] == 0 and info["refresh_failures"] == 1


def test_expired_without_refresh_fails_then_retries_after_backoff() -> None:
    provider, source, clock = fake_provider()
    provider.get_credentials()
    source.fail = RuntimeError("down")
    clock.advance(4000)  # jumped past the expiry: nothing valid left
    with pytest.raises(CredentialsUnavailable):
        provider.get_credentials()
    calls = source.calls
    with pytest.raises(CredentialsUnavailable, match="next attempt in"):
        provider.get_credentials()
    assert source.calls == calls, "within the backoff no new fetch"
    source.fail = None
    clock.advance(1.01)
    assert provider.get_credentials().get_access_key_id().endswith(f"{calls + 1:012d}")


def test_invalidate_forces_exactly_one_refresh() -> None:
    provider, source, _ = fake_provider()
    snap = provider.snapshot()
    provider.invalidate(snap)
    barrier = threading.Barrier(16)

    def call() -> str:
        barrier.wait()
        return provider.snapshot().access_key_id

    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(lambda _: call(), range(16)))
    assert source.calls == 2 and len(keys) == 1 and snap.access_key_id not in keys
    # A stale snapshot (already replaced) does not cause another refresh.
    provider.invalidate(snap)
    provider.snapshot()
    assert source.calls == 2
    # The oss2 object returned by get_credentials() works as well.
    provider.invalidate(provider.get_credentials())
    provider.get_credentials()
    assert source.calls == 3


def test_invalidated_credentials_are_not_served_when_refresh_fails() -> None:
    provider, source, _ = fake_provider()
    snap = provider.snapshot()
    source.fail = RuntimeError("still down")
    provider.invalidate(snap)
    with pytest.raises(CredentialsUnavailable, match="rejected"):
        provider.get_credentials()


def test_already_expired_answer_is_a_failure_not_a_refresh_loop() -> None:
    clock = FakeClock()
    calls = []

    def stale() -> Issued:
        calls.append(1)
        return Issued("STS.Stale0000000001", "secret-stale", "CAIStoken", clock() - 5)

    provider = build_provider({"credentials_provider": stale}, clock=clock, shared=False)
    with pytest.raises(CredentialsUnavailable, match="clock skew"):
        provider.get_credentials()
    with pytest.raises(CredentialsUnavailable):
        provider.get_credentials()
    assert len(calls) == 1


def module_level_credentials() -> oss2.credentials.Credentials:
    return oss2.credentials.Credentials("LTAIdottedpath0001", "dotted-secret-value", "")


def test_custom_dotted_path_and_callables_without_expiry_are_fetched_once() -> None:
    provider = build_provider(
        {"credentials_provider": f"{__name__}.module_level_credentials"}, shared=False)
    assert provider.get_credentials().get_access_key_id() == "LTAIdottedpath0001"
    snap = provider.snapshot()
    assert snap.security_token is None and snap.expiration is None
    assert provider.describe()["sts_calls"] == 1
    provider.get_credentials()
    assert provider.describe()["sts_calls"] == 1


def test_custom_object_with_get_credentials_and_mapping_results() -> None:
    clock = FakeClock()

    class Vault:
        def __init__(self) -> None:
            self.calls = 0

        def get_credentials(self) -> dict[str, object]:
            self.calls += 1
            return {"access_key_id": f"STS.Vault{self.calls:010d}", "access_key_secret": "vs",
                    "security_token": "CAISvault", "expiration": "2027-01-15T08:00:00Z"}

    vault = Vault()
    expiry = calendar.timegm((2027, 1, 15, 8, 0, 0))
    clock.value = expiry - 7200.0
    provider = build_provider({"credentials_provider": vault}, clock=clock, shared=False)
    snap = provider.snapshot()
    assert snap.expiration == expiry
    assert snap.security_token == "CAISvault" and vault.calls == 1
    clock.advance(7200 - 1799)  # lifetime 2 h: refresh 30 min before the expiry
    assert provider.snapshot().access_key_id == "STS.Vault0000000002"


def test_token_without_expiry_is_refetched_every_ten_minutes() -> None:
    clock = FakeClock()
    calls = []

    def tokened() -> oss2.credentials.Credentials:
        calls.append(1)
        return oss2.credentials.Credentials("STS.NoExpiry0000001", "s", "CAISnoexpiry")

    provider = build_provider({"credentials_provider": tokened}, clock=clock, shared=False)
    provider.get_credentials()
    clock.advance(UNKNOWN_EXPIRY_REFRESH - 1)
    provider.get_credentials()
    assert len(calls) == 1
    clock.advance(2)
    provider.get_credentials()
    assert len(calls) == 2


def test_custom_source_returning_garbage_is_unavailable() -> None:
    provider = build_provider({"credentials_provider": lambda: object()}, shared=False)
    with pytest.raises(CredentialsUnavailable, match="no access_key_id"):
        provider.get_credentials()


def test_describe_has_counts_times_and_no_secret() -> None:
    provider, _, _ = fake_provider()
    snap = provider.snapshot()
    info = provider.describe()
    assert info["source"] == "custom"
    assert info["access_key_id"] == "STS.****0001"
    assert info["sts_calls"] == 1 and info["refresh_failures"] == 0
    assert info["expiration"].endswith("Z") and info["last_refresh"].endswith("Z")
    text = repr(info) + repr(provider) + str(provider) + repr(snap) + str(snap)
    assert snap.access_key_secret not in text and snap.security_token not in text
    assert snap.access_key_id not in text


def test_refreshing_provider_pickles_without_cached_credentials() -> None:
    clock = FakeClock()
    provider = build_provider({"credentials_provider": module_level_credentials},
                              clock=clock, shared=True)
    provider.get_credentials()
    data = pickle.dumps(provider)
    assert b"dotted-secret-value" not in data
    assert pickle.loads(data) is provider, "same process: the live shared provider"
    with pytest.raises(TypeError):
        pickle.dumps(provider.snapshot())
    with pytest.raises(TypeError):
        pickle.dumps(provider.get_credentials())


def test_fast_path_is_cheap() -> None:
    provider, source, _ = fake_provider()
    provider.get_credentials()
    calls = 200_000
    started = time.perf_counter()
    for _ in range(calls):
        provider.get_credentials()
    per_call = (time.perf_counter() - started) / calls
    assert per_call < 5e-6, f"{per_call * 1e6:.2f} µs per call"
    assert source.calls == 1
