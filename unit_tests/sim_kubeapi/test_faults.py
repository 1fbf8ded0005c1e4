import pytest

from sim.kubeapi import faults
from sim.kubeapi.status import ApiError


def test_armed_faults_in_order():
    injector = faults.FaultInjector()
    injector.throttle(1, retry_after_s=3, match="/pods")
    with pytest.raises(ApiError) as error:
        injector.before_request("/api/v1/pods")
    assert error.value.code == 429
    assert error.value.headers == {"Retry-After": "3"}
    assert error.value.details == {"retryAfterSeconds": 3}
    injector.before_request("/api/v1/pods")  # used up
    injector.fail(2, code=503)
    for _ in range(2):
        with pytest.raises(ApiError) as error:
            injector.before_request("/apis")
        assert error.value.code == 503
    injector.before_request("/apis")
    assert injector.injected == {"429": 1, "503": 2}
    with pytest.raises(ValueError, match="5xx"):
        injector.fail(code=404)


def _fault_of(stream: faults.OpenStream) -> str | None:
    return stream.pending_fault


def test_breaking_streams_marks_them_and_wakes_watchers():
    woken = []
    injector = faults.FaultInjector(lambda: woken.append(1))
    watch, log = faults.OpenStream("watch", "/w"), faults.OpenStream("log", "/l")
    injector.register(watch)
    injector.register(log)
    assert injector.expire_watches() == 1
    assert watch.pending_fault == faults.EXPIRE
    assert log.pending_fault is None
    assert injector.drop_watches() == 2
    assert _fault_of(log) == faults.DROP
    injector.unregister(watch)
    assert injector.open_streams() == 1
    assert woken == [1, 1]
