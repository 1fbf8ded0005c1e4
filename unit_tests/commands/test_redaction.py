"""Secret values never survive any response shape; keys stay; last-applied and managedFields go."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from actors.commands import redaction

B64 = "c2VjcmV0LXZhbHVl"          # base64 of a secret value
PLAIN = "plain-secret-value"      # a stringData value
SECRET = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
          "metadata": {"name": "db", "namespace": "prod",
                       "annotations": {redaction.LAST_APPLIED: json.dumps(
                           {"kind": "Secret", "data": {"password": B64}}), "team": "a"},
                       "managedFields": [{"manager": "kubectl", "fieldsV1": {}}]},
          "data": {"password": B64, "user": B64}, "stringData": {"token": PLAIN}}
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
             "data": {"mode": "fast"}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "web", "annotations": {redaction.LAST_APPLIED: json.dumps(
                  {"env": [{"name": "PW", "value": PLAIN}]})}}, "spec": {"replicas": 2}}


def secret() -> dict[str, Any]:
    return copy.deepcopy(SECRET)


def assert_clean(text: str) -> None:
    assert B64 not in text
    assert PLAIN not in text
    assert redaction.LAST_APPLIED not in text
    assert "managedFields" not in text


def test_single_secret_keeps_keys_and_replaces_values():
    obj = secret()
    assert redaction.redact_object(obj) == 3
    assert obj["data"] == {"password": "<redacted>", "user": "<redacted>"}
    assert obj["stringData"] == {"token": "<redacted>"}
    assert obj["metadata"]["annotations"] == {"team": "a"}
    assert "managedFields" not in obj["metadata"]
    assert obj["type"] == "Opaque"


def test_raw_secret_list_items_without_kind():
    items = [{k: v for k, v in secret().items() if k not in ("kind", "apiVersion")}
             for _ in range(3)]
    body = json.dumps({"kind": "SecretList", "apiVersion": "v1", "items": items})
    result = redaction.redact_api_text(body)
    assert_clean(result.text)
    assert result.redacted == 9
    assert json.loads(result.text)["items"][0]["data"]["user"] == "<redacted>"


def test_items_without_kind_are_redacted_by_shape_or_hint():
    bare = {"metadata": {"name": "x"}, "data": {"k": B64}}
    assert redaction.redact_api_text(json.dumps({"items": [bare]}), secret_hint=True).redacted \
        == 1
    shaped = {"metadata": {"name": "x"}, "type": "kubernetes.io/tls", "data": {"tls.key": B64}}
    assert redaction.redact_object({"items": [shaped]}) == 1


def test_v1_list_with_mixed_kinds():
    listing = {"apiVersion": "v1", "kind": "List",
               "items": [secret(), copy.deepcopy(CONFIGMAP), copy.deepcopy(DEPLOYMENT)]}
    result = redaction.redact_api_text(json.dumps(listing))
    assert_clean(result.text)
    parsed = json.loads(result.text)
    assert parsed["items"][1]["data"] == {"mode": "fast"}     # ConfigMaps are not Secrets
    assert parsed["items"][2]["metadata"]["annotations"] == {}
    assert result.note == "3 Secret value(s) redacted"


def test_watch_event_lines():
    events = [{"type": "ADDED", "object": secret()}, {"type": "MODIFIED", "object": secret()},
              {"type": "BOOKMARK", "object": {"kind": "Secret", "metadata": {}}}]
    text = "\n".join(json.dumps(event) for event in events) + "\n"
    result = redaction.redact_api_text(text)
    assert_clean(result.text)
    lines = result.text.splitlines()
    assert len(lines) == 3
    assert json.loads(lines[1])["object"]["data"]["password"] == "<redacted>"


def test_kubectl_yaml_single_list_and_multi_document():
    single = yaml.safe_dump(secret())
    listing = yaml.safe_dump({"apiVersion": "v1", "kind": "List",
                              "items": [secret(), copy.deepcopy(CONFIGMAP)]})
    multi = yaml.safe_dump_all([secret(), copy.deepcopy(DEPLOYMENT), secret()])
    for text, expected in ((single, 3), (listing, 3), (multi, 6)):
        result = redaction.redact_command_output(text)
        assert_clean(result.text)
        assert result.redacted == expected
        docs = [doc for doc in yaml.safe_load_all(result.text) if doc]
        assert docs[0].get("data", docs[0].get("items", [{}])[0].get("data")) is not None
    assert "mode: fast" in redaction.redact_command_output(listing).text


def test_kubectl_json_output_and_concatenated_documents():
    listing = json.dumps({"apiVersion": "v1", "kind": "List", "items": [secret(), secret()]},
                         indent=4)
    result = redaction.redact_command_output(listing)
    assert_clean(result.text)
    assert json.loads(result.text)["items"][1]["data"]["user"] == "<redacted>"
    watched = json.dumps(secret(), indent=4) + "\n" + json.dumps(secret(), indent=4)
    assert_clean(redaction.redact_command_output(watched).text)


def test_last_applied_is_removed_from_every_kind():
    result = redaction.redact_command_output(yaml.safe_dump(copy.deepcopy(DEPLOYMENT)))
    assert_clean(result.text)
    assert "replicas: 2" in result.text


@pytest.mark.parametrize("cut", [0.35, 0.5, 0.7, 0.9])
def test_truncated_yaml_is_redacted_conservatively(cut):
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [secret(), secret()]},
                          width=1000)
    truncated = text[:int(len(text) * cut)]
    result = redaction.redact_command_output(truncated + "\n  - broken: [")
    assert B64 not in result.text
    assert PLAIN not in result.text


@pytest.mark.parametrize("cut", range(5, 100, 5))
def test_capped_output_that_still_parses_is_redacted(cut):
    """A cut after ``data:`` but before ``kind: Secret`` can parse as valid YAML."""
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [secret(), secret()]},
                          width=1000)
    truncated = text[:int(len(text) * cut / 100)]
    result = redaction.redact_command_output(truncated, truncated=True)
    assert B64[:6] not in result.text
    assert PLAIN not in result.text


@pytest.mark.parametrize("cut", [0.3, 0.5, 0.8])
def test_truncated_json_is_redacted_conservatively(cut):
    text = json.dumps({"kind": "List", "items": [secret(), secret()]}, indent=4)
    result = redaction.redact_command_output(text[:int(len(text) * cut)])
    assert B64[:6] not in result.text
    assert PLAIN not in result.text


def test_block_scalar_values_in_truncated_yaml():
    text = "items:\n- data:\n    cert: |\n      LINE1SECRET\n      LINE2SECRET\n  kind: Sec"
    result = redaction.redact_command_output(text + "\n  broken: [")
    assert "LINE1SECRET" not in result.text
    assert "LINE2SECRET" not in result.text


def test_describe_and_tables_pass_through_unchanged():
    describe = ("Name:         db\nNamespace:    prod\nType:  Opaque\n\nData\n====\n"
                "password:  16 bytes\n")
    table = "NAME   TYPE     DATA   AGE\ndb     Opaque   2      5d\n"
    assert redaction.redact_command_output(describe).text == describe
    assert redaction.redact_command_output(table).text == table
    logs = "2024-01-01 started\n2024-01-01 ready\n"
    assert redaction.redact_command_output(logs) == redaction.RedactedText(logs, 0)


def test_the_check_can_fail_on_unredacted_text():
    with pytest.raises(AssertionError):
        assert_clean(json.dumps(SECRET))
