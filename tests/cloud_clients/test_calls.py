"""The call policy (retries, backoff, rate, budget) and the names the services accept."""

from __future__ import annotations

import os
import re
import signal

import pytest

from cloud_clients import BudgetExhausted, CallBudget, CallPolicy, CloudError, PhotoRejected
from cloud_clients import decode_identity, encode_identity, new_run_id
from cloud_clients.calls import Failure, check_photo
from cloud_clients.session import CloudSession, sigint_deferred


class Flaky:
    """Fails `failures` times with a transient error, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise TimeoutError("busy")
        return "answer"


def transient(exc: BaseException) -> Failure | None:
    return Failure("transient", "throttled") if isinstance(exc, TimeoutError) else None


def test_throttling_is_retried_with_growing_jittered_backoff():
    waits: list[float] = []
    policy = CallPolicy(max_retries=5, backoff=1.0, sleep=waits.append)
    request = Flaky(3)
    assert policy.call("svc", "Op", request, transient) == "answer"
    assert request.calls == 4 and len(waits) == 3
    for attempt, wait in enumerate(waits):
        assert 0.5 * 2**attempt <= wait <= 2**attempt


def test_retries_are_bounded_and_the_error_says_what_to_do():
    policy = CallPolicy(max_retries=2, backoff=0.0, sleep=lambda s: None)
    with pytest.raises(CloudError, match=r"svc Op: throttled, still after 2 retries; lower the tracker's rate="):
        policy.call("svc", "Op", Flaky(10), transient)


def test_retry_after_from_the_service_wins_over_backoff():
    waits: list[float] = []
    policy = CallPolicy(backoff=5.0, sleep=waits.append)
    failures = iter([Failure("transient", "429", retry_after=0.25)])
    request = Flaky(1)
    policy.call("svc", "Op", request, lambda exc: next(failures))
    assert waits == [0.25]


def test_permanent_and_photo_failures_are_not_retried():
    calls = []

    def refuse() -> None:
        calls.append(1)
        raise ValueError("no")

    policy = CallPolicy(sleep=lambda s: None)
    with pytest.raises(PhotoRejected, match="no face"):
        policy.call("svc", "Op", refuse, lambda exc: Failure("photo", "no face"))
    with pytest.raises(CloudError, match="svc Op: denied"):
        policy.call("svc", "Op", refuse, lambda exc: Failure("permanent", "denied"))
    with pytest.raises(ValueError):  # not the service's error: it propagates as it is
        policy.call("svc", "Op", refuse, lambda exc: None)
    assert len(calls) == 3


def test_budget_refuses_calls_beyond_the_limit_but_never_a_cleanup():
    budget = CallBudget(2)
    policy = CallPolicy(budget=budget)
    assert [policy.call("svc", "Op", lambda: 1, transient) for _ in range(2)] == [1, 1]
    with pytest.raises(BudgetExhausted, match="--max-api-calls"):
        policy.call("svc", "Op", lambda: 1, transient)
    assert policy.call("svc", "Delete", lambda: "gone", transient, cleanup=True) == "gone"
    assert budget.used["svc"] == 3
    with pytest.raises(ValueError):
        CallBudget(0)


def test_rate_limit_spaces_calls():
    waits: list[float] = []
    policy = CallPolicy(rate=4.0, sleep=waits.append)
    for _ in range(3):
        policy.call("svc", "Op", lambda: None, transient)
    assert len(waits) == 2 and all(0.2 < w <= 0.25 for w in waits)


@pytest.mark.parametrize("name", ["George_W_Bush", "Jean-Pierre_Raffarin", "Sinead_O'Connor", "Zoë Ça:va", "a,b@c"])
def test_identity_names_round_trip_through_what_the_services_allow(name):
    encoded = encode_identity(name)
    assert re.fullmatch(r"[a-zA-Z0-9_.\-:]+", encoded)  # Rekognition's ExternalImageId pattern
    assert not set(encoded) & set("^@,&=*'\"")  # characters Face++ refuses in a user id
    assert decode_identity(encoded) == name


def test_run_ids_and_resource_names_fit_every_service():
    session = CloudSession()
    name = session.new_name()
    assert re.fullmatch(r"cloak-audit-[a-z0-9\-]+-001", name) and len(name) <= 64  # Azure's group id rule
    assert new_run_id() != new_run_id()


def test_session_deletes_what_is_left_and_records_what_it_could_not():
    session = CloudSession()
    deleted = []
    session.opened("svc", "a", lambda: deleted.append("a"))
    session.opened("svc", "b", lambda: (_ for _ in ()).throw(RuntimeError("network down")))
    session.cleanup()
    assert deleted == ["a"]
    record = session.record()
    assert record["deleted"] == ["svc:a"] and record["leftovers"] == ["svc:b"]
    session.cleanup()  # nothing is deleted twice
    assert deleted == ["a"]


def test_photos_the_service_would_refuse_are_refused_without_a_call():
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    check_photo(png, "svc", 1024)
    with pytest.raises(PhotoRejected, match="takes photos up to"):
        check_photo(png, "svc", 100)
    with pytest.raises(PhotoRejected, match="takes JPEG or PNG photos; this one is GIF"):
        check_photo(b"GIF89a" + b"0" * 10, "svc", 1024)


def test_ctrl_c_during_a_deletion_waits_for_it_and_leaves_the_handler_as_it_was():
    before = signal.getsignal(signal.SIGINT)
    session = CloudSession()
    session.opened("svc", "a", lambda: os.kill(os.getpid(), signal.SIGINT))  # Ctrl-C mid-deletion
    with pytest.raises(KeyboardInterrupt):
        session.delete("svc", "a")
    assert session.deleted == ["svc:a"] and signal.getsignal(signal.SIGINT) is before
    # in the final cleanup every deletion runs, and the Ctrl-C does not interrupt the run's ending
    deleted = []
    session.opened("svc", "b", lambda: (os.kill(os.getpid(), signal.SIGINT), deleted.append("b")))
    session.opened("svc", "c", lambda: deleted.append("c"))
    session.cleanup()
    assert deleted == ["b", "c"] and signal.getsignal(signal.SIGINT) is before
    with sigint_deferred(reraise=True):
        with sigint_deferred(reraise=True):
            pass
        assert signal.getsignal(signal.SIGINT) is not before  # still deferred inside the outer block
    assert signal.getsignal(signal.SIGINT) is before
