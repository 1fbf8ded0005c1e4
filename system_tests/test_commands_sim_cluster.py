"""The command executors against a real process: the simulated kube-apiserver over TLS.

Starts ``python -m sim.kubeapi`` (ephemeral port on 127.0.0.1, its own CA and tokens), then
drives the real adapters: API GETs through ``HttpKubeTransport`` (Secret values never come
back: checked against the raw values fetched directly), real ``kubectl`` through the
``ShellExecutor`` (yaml and json Secret output redacted, jsonpath on Secrets refused, many
concurrent commands correlated), and server-side dry-run/apply with safe-apply on (per-document
errors, 403 for a read-only token) and off (no request reaches the server).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import pathlib
import selectors
import shutil
import subprocess
import sys
import threading

import pytest
import yaml

from actors.commands.audit import AuditLog
from actors.commands.k8s_apply import ManifestApplier
from actors.commands.k8s_client_adapter import HttpKubeTransport, KubeEndpoint
from actors.commands.k8s_request import KubeApiReader
from actors.commands.settings import CommandSettings
from actors.commands.shell_executor_adapter import ShellExecutor, ShellRunResult

pytestmark = pytest.mark.system

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _start_sim(token: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.kubeapi", "--scale", "small", "--seed", "5", "--token",
         token], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=60):
        process.kill()
        process.wait()
        pytest.fail("the simulated API server did not start within 60 s")
    selector.close()
    line = process.stdout.readline().strip()
    assert line.startswith("KUBECONFIG="), line
    path = line.split("=", 1)[1]
    config = yaml.safe_load(pathlib.Path(path).read_text())
    return process, {"kubeconfig": path, "server": config["clusters"][0]["cluster"]["server"],
                     "ca": config["clusters"][0]["cluster"]["certificate-authority"],
                     "token": config["users"][0]["user"]["token"]}


@pytest.fixture(scope="module")
def cluster():
    process, info = _start_sim("admin")
    yield info
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def transport_for(info: dict[str, str]) -> HttpKubeTransport:
    return HttpKubeTransport(KubeEndpoint(server=info["server"], ca_path=info["ca"],
                                          token=info["token"]))


def raw_secret_values(info: dict[str, str]) -> list[str]:
    response = transport_for(info).request("GET", "/api/v1/secrets", timeout_s=10,
                                           max_bytes=8 << 20)
    values = [value for item in json.loads(response.body)["items"]
              for value in (item.get("data") or {}).values()]
    assert values, "the simulated cluster should hold Secret data"
    return values + [base64.b64decode(v).decode("utf-8", "replace") for v in values]


def test_api_reads_are_redacted_and_keep_status_codes(cluster):
    secrets = raw_secret_values(cluster)
    reader = KubeApiReader(transport_for(cluster), CommandSettings(), AuditLog())
    listing = reader.get(request_id="g1", api_path="/api/v1/secrets", timeout_s=10)
    assert (listing.success, listing.status_code) == (True, 200)
    assert "redacted" in listing.note
    assert not [value for value in secrets if value in listing.body]
    page = reader.get(request_id="g2", api_path="/api/v1/pods?limit=2", timeout_s=10)
    assert len(json.loads(page.body)["items"]) == 2
    missing = reader.get(request_id="g3", api_path="/api/v1/namespaces/team-00/pods/nope",
                         timeout_s=10)
    assert missing.status_code == 404
    assert missing.error_message.startswith("NotFound")
    refused = reader.get(request_id="g4", api_path="/api/v1/namespaces/team-00/pods/x/exec",
                         timeout_s=10)
    assert refused.status_code == 400


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_through_the_executor(cluster, tmp_path):
    secrets = raw_secret_values(cluster)
    settings = dataclasses.replace(CommandSettings(), working_dir=str(tmp_path),
                                   extra_env={"KUBECONFIG": cluster["kubeconfig"]},
                                   concurrency=4, queue_depth=64)
    audit = AuditLog(path=str(tmp_path / "audit.jsonl"))
    executor = ShellExecutor(settings, audit=audit, environ=dict(os.environ))
    answers: dict[str, ShellRunResult] = {}
    done = threading.Condition()

    def on_done(result):
        with done:
            answers[result.request_id] = result
            done.notify_all()

    commands = {"yaml": "kubectl get secrets -A -o yaml",
                "json": "kubectl get secrets -A -o json",
                "jsonpath": "kubectl get secret app-credentials -n team-00 "
                            "-o jsonpath={.data}",
                "exec": "kubectl exec -n team-00 web -- cat /etc/passwd"}
    commands.update({f"pods-{i}": f"kubectl get pods -n team-0{i % 2} -o name"
                     for i in range(20)})
    executor.start()
    try:
        for request_id, command in commands.items():
            executor.submit(request_id=request_id, command=command, on_done=on_done,
                            timeout_s=60)
        with done:
            done.wait_for(lambda: len(answers) == len(commands), timeout=120)
    finally:
        executor.close()
    assert set(answers) == set(commands)
    for kind in ("yaml", "json"):
        result = answers[kind]
        assert result.outcome == "completed", result.stderr
        assert "<redacted>" in result.stdout
        assert not [value for value in secrets if value in result.stdout]
    assert answers["jsonpath"].refusal_code == "secret_output"
    assert answers["exec"].outcome == "refused"
    for index in range(20):
        result = answers[f"pods-{index}"]
        assert result.outcome == "completed"
        assert result.stdout.startswith("pod/")
    audit_text = (tmp_path / "audit.jsonl").read_text()
    assert cluster["token"] not in audit_text
    assert audit.snapshot()["refused"] == 2


CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {name: kestrel-probe, namespace: team-00}
data: {mode: test}
"""
ORPHAN = """apiVersion: v1
kind: ConfigMap
metadata: {name: orphan, namespace: no-such-namespace}
data: {mode: test}
"""


def test_safe_apply_dry_run_and_apply(cluster):
    settings = dataclasses.replace(CommandSettings(), safe_apply=True)
    applier = ManifestApplier(transport_for(cluster), settings, AuditLog())
    checked = applier.dry_run(request_id="a1", yaml_text=CONFIGMAP + "---\n" + ORPHAN)
    assert [o.ok for o in checked.outcomes] == [True, False]
    assert checked.outcomes[0].status_code in (200, 201)   # 201: the apply would create it
    assert checked.outcomes[1].status_code == 404
    assert "no-such-namespace" in checked.outcomes[1].message
    reader = KubeApiReader(transport_for(cluster), settings)
    path = "/api/v1/namespaces/team-00/configmaps/kestrel-probe"
    assert reader.get(request_id="a2", api_path=path, timeout_s=10).status_code == 404
    applied = applier.apply(request_id="a3", yaml_text=CONFIGMAP)
    assert applied.ok
    stored = reader.get(request_id="a4", api_path=path, timeout_s=10)
    assert json.loads(stored.body)["data"] == {"mode": "test"}


def test_safe_apply_off_sends_nothing_and_read_only_tokens_get_403(cluster):
    class Counting:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def request(self, *args, **kwargs):
            self.calls += 1
            return self.inner.request(*args, **kwargs)

    counting = Counting(transport_for(cluster))
    off = ManifestApplier(counting, CommandSettings(), AuditLog())
    assert "safe_apply is disabled" in off.apply(request_id="o1", yaml_text=CONFIGMAP).error
    assert counting.calls == 0
    process, info = _start_sim("read-only")
    try:
        settings = dataclasses.replace(CommandSettings(), safe_apply=True)
        read_only = ManifestApplier(transport_for(info), settings, AuditLog())
        result = read_only.dry_run(request_id="o2", yaml_text=CONFIGMAP)
        assert [o.status_code for o in result.outcomes] == [403]
    finally:
        process.terminate()
        process.wait(timeout=10)
