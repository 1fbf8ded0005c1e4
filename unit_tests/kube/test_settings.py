"""KubeSettings.problems() reports every invalid field with its key."""

from actors.kube.settings import KubeSettings


def test_defaults_are_valid():
    assert list(KubeSettings().problems()) == []


def test_every_problem_is_reported_with_its_key():
    bad = KubeSettings(resources=("pods", "pods", "gadgets"), page_size=0, backoff_min_s=5.0,
                       backoff_max_s=1.0, not_ready_threshold_s=-1, log_stream_max_streams=-2,
                       log_stream_namespace_label="")
    keys = [key for key, _ in bad.problems()]
    assert keys == ["resources", "resources", "page_size", "log_stream_max_streams",
                    "not_ready_threshold_s", "backoff_max_s", "log_stream_namespace_label"]
    assert "gadgets" in next(iter(bad.problems()))[1]
