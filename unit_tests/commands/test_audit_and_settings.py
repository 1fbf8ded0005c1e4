"""Audit lines are sanitised, counted and rotated; settings parse from plain data with problems."""

from __future__ import annotations

import json

from actors.commands.audit import AuditLog
from actors.commands.settings import CommandSettings

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLXNpZw"


def test_entries_are_json_lines_without_credentials(tmp_path):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path=str(path), clock=lambda: 1700000000.0)
    audit.record(tool="shell", request_id="r1", accepted=False, code="denied_flag",
                 detail={"command": f"kubectl get pods --token={JWT}",
                         "header": "Authorization: Bearer abc.def", "api_token": "t0k3n",
                         "long": "x" * 2000})
    (entry,) = [json.loads(line) for line in path.read_text().splitlines()]
    text = path.read_text()
    assert JWT not in text
    assert "abc.def" not in text
    assert "t0k3n" not in text
    assert entry["api_token"] == "<redacted>"
    assert entry["ts"] == 1700000000.0
    assert entry["decision"] == "refused"
    assert len(entry["long"]) < 600


def test_counters_by_tool_and_reason():
    audit = AuditLog()
    for code in ("glob", "glob", "unlisted_program"):
        audit.record(tool="shell", request_id="r", accepted=False, code=code)
    audit.record(tool="shell", request_id="r", accepted=True, code="allowed")
    audit.record(tool="k8s_get", request_id="r", accepted=True, code="allowed")
    snap = audit.snapshot()
    assert (snap["accepted"], snap["refused"]) == (2, 3)
    assert snap["refused_by_reason"] == {"glob": 2, "unlisted_program": 1}
    assert snap["accepted_by_tool"] == {"shell": 1, "k8s_get": 1}


def test_rotation_by_size_keeps_bounded_backups(tmp_path):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path=str(path), max_bytes=600, backups=2)
    for index in range(40):
        audit.record(tool="shell", request_id=f"r{index:02d}", accepted=True, code="allowed")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(p.stat().st_size <= 600 for p in tmp_path.iterdir())
    assert '"r39"' in path.read_text()


def test_unwritable_audit_path_is_counted_not_raised(tmp_path):
    audit = AuditLog(path=str(tmp_path / "missing-dir" / "audit.jsonl"))
    audit.record(tool="shell", request_id="r", accepted=True, code="allowed")
    assert audit.snapshot()["write_errors"] == 1
    assert audit.snapshot()["accepted"] == 1


def test_defaults_have_no_problems():
    settings = CommandSettings()
    assert list(settings.problems()) == []
    assert settings.timeout_s == 30.0
    assert settings.output_cap_bytes == 1 << 20
    assert (settings.concurrency, settings.queue_depth, settings.safe_apply) == (4, 64, False)
    assert {"kubectl", "curl", "dig", "nslookup", "cilium", "hubble"} <= set(settings.allowlist)


def test_from_mapping_reads_the_topology_section_and_reports_errors():
    raw = {"timeout_s": 10, "concurrency": 2, "safe_apply": True, "audit_path": "/var/log/a",
           "allowlist": {"kubectl": {"checker": "kubectl", "subcommands": ["get", "auth can-i"],
                                     "value_flags": ["-n", "-o"]},
                         "echo": {"max_positionals": 3}},
           "bogus": 1, "queue_depth": "many", "max_timeout_s": 5}
    settings, errors = CommandSettings.from_mapping(raw)
    assert settings.allowlist["kubectl"].subcommands == (("get",), ("auth", "can-i"))
    assert settings.allowlist["echo"].checker == "generic"
    assert settings.safe_apply is True
    assert "commands.bogus: unknown setting" in errors
    assert "commands.queue_depth: must be an integer" in errors
    assert "commands.timeout_s: must not exceed max_timeout_s" in errors


def test_problems_catch_unsafe_values():
    _, errors = CommandSettings.from_mapping({
        "concurrency": 0, "search_path": ["bin"], "env_passthrough": ["AWS_REGION"],
        "allowlist": {"sh": {"checker": "shell"}, "x/y": {}}})
    keys = {error.split(":")[0] for error in errors}
    assert keys == {"commands.concurrency", "commands.search_path", "commands.env_passthrough",
                    "commands.allowlist.sh.checker", "commands.allowlist.x/y"}
