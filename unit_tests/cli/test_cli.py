"""The kestrel-operator CLI: exit codes, normalized output, status rendering, lazy lifecycle."""

import json
import pathlib
import socket
import sys
import types

import pytest

from actors.runtime import cli, logging_setup
from actors.runtime.status_http import StatusServer
from actors.runtime.topology import load_topology
from unit_tests.status.fake_tree import balanced_tree, unbalanced_tree

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "topology"
BAD = """
actors:
  supervisor/root: {children: [synthetic_source/a]}
  synthetic_source/a: {rate_per_s: -1, colour: red}
links:
  - {from: synthetic_source/a, to: synthetic_sink/b, window: 0}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("KESTREL_STATUS_PORT", "HEALTH_PORT", "KESTREL_LOG_FORMAT", "KESTREL_LOG_LEVEL",
                 "KESTREL_CLUSTER_NAME", "DISABLE_CILIUM_FLOWS", "ENABLE_ISTIO_ALS",
                 "ENABLE_OTEL_METRICS_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(logging_setup, "configure_main_logging", lambda *a, **k: None)


def test_validate_ok(capsys):
    path = str(EXAMPLES / "demo.yaml")
    assert cli.main(["topology", "validate", path]) == 0
    assert capsys.readouterr().out == (
        f"{path}: OK: 5 components (2 supervisors), 2 links, root supervisor/root\n")


def test_validate_reports_every_problem_and_exits_1(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    assert cli.main(["topology", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "actors.synthetic_source/a.colour: unknown key (known keys: batch_records, enabled, "
        "exit_when_done, rate_per_s, record_bytes, restart, shutdown_timeout, total)",
        "actors.synthetic_source/a.rate_per_s: must be > 0",
        "links[0].to: unknown component 'synthetic_sink/b' (did you mean 'synthetic_source/a'?)",
        "links[0].window: must be ≥ 1"]
    assert captured.err == f"{path}: 4 problems\n"


def test_validate_missing_file_exits_1(tmp_path, capsys):
    assert cli.main(["topology", "validate", str(tmp_path / "absent.yaml")]) == 1
    assert capsys.readouterr().out.startswith("file: cannot read")


@pytest.mark.parametrize("argv", [["topology", "validate"], ["topology"], [],
                                  ["topology", "lint", "x.yaml"], ["status", "--timeout", "x"],
                                  ["run"], ["demo", "--duration", "soon"]])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["minimal.yaml", "full.yaml", "demo.yaml"])
def test_show_round_trips(name, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("KESTREL_CLUSTER_NAME", "from-env")
    assert cli.main(["topology", "show", str(EXAMPLES / name)]) == 0
    shown = tmp_path / "shown.yaml"
    shown.write_text(capsys.readouterr().out)
    original = load_topology(EXAMPLES / name)
    assert original.operator.cluster_name == "from-env"
    assert load_topology(shown, env={}) == original


@pytest.fixture
def fake_server():
    servers = []

    def start(status):
        server = StatusServer("127.0.0.1", 0, lambda: status, cache_s=0.0)
        server.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        server.stop()


def test_status_renders_the_tree(fake_server, capsys):
    url = fake_server(balanced_tree())
    assert cli.main(["status", "--url", url]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "supervisor/root                                  running      restarts 0   up 1m39s",
        "└─ supervisor/pipeline                           running      restarts 0   up 12.5s",
        '   ├─ synthetic_sink/we"ird\\name\\nx              running      restarts 0   up 12.5s',
        "   └─ synthetic_source/a                         running      restarts 2   up 12.5s"
        "  last error: boom",
        "links:",
        '  synthetic_source/a -> synthetic_sink/we"ird\\name\\nx [drop_oldest]  in flight 50 '
        "records (1/8 batches)  received 1000  forwarded 900  dropped 50  ok",
        "conservation: ok",
        "ready: yes"]


def test_status_shows_violations_and_reasons(fake_server, capsys):
    url = fake_server(unbalanced_tree())
    assert cli.main(["status", "--url", url + "/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-4:] == [
        "  synthetic_source/a -> synthetic_sink/b [block]  in flight 0 records (1/8 batches)  "
        "received 10  forwarded 5  dropped 0  UNBALANCED",
        "conservation: VIOLATED (received != forwarded + dropped + in flight)",
        "ready: no",
        "  - synthetic_source/a: backoff (restarts 3, last error: died)"]


def test_status_json(fake_server, capsys):
    url = fake_server(balanced_tree())
    assert cli.main(["status", "--url", url, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["conservation_ok"] is True
    assert document["root"]["id"] == "supervisor/root"


def test_status_unreachable_and_unavailable(fake_server, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{free_port}"
    assert cli.main(["status", "--url", url, "--timeout", "2"]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: cannot reach the status endpoint at {url}/status: ")
    down = fake_server(None)
    assert cli.main(["status", "--url", down]) == 1
    assert capsys.readouterr().err == (
        f'error: {down}/status answered 503: {{"error": "the actor system did not answer '
        'within its timeout"}\n')
    assert cli.main(["status", "--url", "ftp://x"]) == 2


def test_run_and_demo_without_lifecycle(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "actors.runtime.lifecycle", None)
    assert cli.main(["run", "--topology", str(EXAMPLES / "minimal.yaml")]) == 1
    assert "no actors.runtime.lifecycle module" in capsys.readouterr().err
    assert cli.main(["demo"]) == 1


def test_run_and_demo_call_lifecycle(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("actors.runtime.lifecycle")

    def run(topology):
        calls.append(("run", topology))
        return 0

    def demo(duration_s=None):
        calls.append(("demo", duration_s))
        return 7

    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "actors.runtime.lifecycle", fake)
    assert cli.main(["run", "--topology", str(EXAMPLES / "minimal.yaml")]) == 0
    assert calls == [("run", load_topology(EXAMPLES / "minimal.yaml"))]
    assert cli.main(["demo", "--duration", "3"]) == 1   # this fake has no demo()
    assert "has no demo()" in capsys.readouterr().err
    fake.demo = demo  # type: ignore[attr-defined]
    assert cli.main(["demo", "--duration", "3"]) == 7
    assert calls[-1] == ("demo", 3.0)


def test_run_refuses_an_invalid_topology(tmp_path, monkeypatch, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    assert cli.main(["run", "--topology", str(path)]) == 1
    assert capsys.readouterr().err.endswith(f"{path}: invalid topology: not starting\n")
