"""Security and naming promises of the chart, checked on the rendered manifests."""

from unit_tests.helm.conftest import CI_VALUES, by_kind, load_values, render

DEFAULTS = load_values(next(p for p in CI_VALUES if p.name == "defaults-values.yaml"))


def _container(docs):
    return by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]


def test_pod_runs_non_root_read_only_with_no_capabilities(ci_values):
    deployment = by_kind(render(ci_values), "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]


def test_rbac_has_no_wildcards_and_no_secret_writes_by_default(ci_values):
    docs = render(ci_values)
    safe_apply = ci_values.get("operator", {}).get("safeApply", {}).get("enabled", False)
    for role in by_kind(docs, "ClusterRole") + by_kind(docs, "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"], role["metadata"]["name"]
            assert "*" not in rule["resources"], role["metadata"]["name"]
            assert "*" not in rule.get("apiGroups", []), role["metadata"]["name"]
            assert "delete" not in rule["verbs"]
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"]
                assert rule.get("resourceNames")
            if not safe_apply:
                assert set(rule["verbs"]) <= {"get", "list", "watch"}


def test_safe_apply_role_only_when_enabled():
    names = [r["metadata"]["name"] for r in by_kind(render(DEFAULTS), "ClusterRole")]
    assert names == ["kestrel-operator-read"]
    on = render({**DEFAULTS, "operator": {"safeApply": {"enabled": True}}})
    assert "kestrel-operator-safe-apply" in [r["metadata"]["name"]
                                             for r in by_kind(on, "ClusterRole")]


def test_probes_point_at_the_status_port(ci_values):
    container = _container(render(ci_values))
    status = next(p for p in container["ports"] if p["name"] == "status")
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "status"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "status"}
    assert status["containerPort"] == ci_values.get("operator", {}).get("statusPort", 8081)


def test_service_names_and_ports_are_the_documented_ones():
    values = {**DEFAULTS, "operator": {"otel": {"enabled": True}, "istio": {"enabled": True}}}
    services = {s["metadata"]["name"]: s for s in by_kind(render(values), "Service")}
    assert set(services) == {"kestrel-operator", "kestrel-operator-als"}
    assert [(p["name"], p["port"]) for p in services["kestrel-operator"]["spec"]["ports"]] == \
        [("otlp-grpc", 4317)]
    assert [(p["name"], p["port"]) for p in services["kestrel-operator-als"]["spec"]["ports"]] == \
        [("grpc-als", 8080)]
    assert all(s["metadata"]["namespace"] == "kestrel-ai" for s in services.values())


def test_no_services_when_receivers_are_off():
    assert by_kind(render(DEFAULTS), "Service") == []


def test_network_policy_on_by_default_admits_only_published_ports(ci_values):
    docs = render(ci_values)
    policies = by_kind(docs, "NetworkPolicy")
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    operator = ci_values.get("operator", {})
    expected = {operator.get("statusPort", 8081)}
    if operator.get("otel", {}).get("enabled"):
        expected.add(operator["otel"].get("receiverPort", 4317))
    if operator.get("istio", {}).get("enabled"):
        expected.add(operator["istio"].get("alsPort", 8080))
    admitted = {p["port"] for rule in spec["ingress"] for p in rule["ports"]}
    assert admitted == expected
    assert all(rule.get("ports") for rule in spec["ingress"])
    deployment = by_kind(docs, "Deployment")[0]
    assert spec["podSelector"]["matchLabels"].items() <= \
        deployment["spec"]["template"]["metadata"]["labels"].items()


def test_istio_telemetry_references_the_documented_providers():
    values = {**DEFAULTS, "operator": {"istio": {"enabled": True}}}
    telemetry = by_kind(render(values), "Telemetry")
    assert {t["metadata"]["namespace"] for t in telemetry} == {"istio-system", "kestrel-ai"}
    for t in telemetry:
        providers = [p["name"] for p in t["spec"]["accessLogging"][0]["providers"]]
        assert providers == ["kestrel-operator-als", "kestrel-operator-als-tcp"]


def test_config_checksum_changes_with_the_topology():
    def checksum(values):
        deployment = by_kind(render(values), "Deployment")[0]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/topology"]

    assert checksum(DEFAULTS) != checksum({**DEFAULTS, "operator": {"otel": {"enabled": True}}})


def test_credentials_come_from_secrets_and_existing_secrets_are_honoured():
    docs = render(DEFAULTS)
    secrets = {s["metadata"]["name"] for s in by_kind(docs, "Secret")}
    assert secrets == {"kestrel-operator-auth", "kestrel-operator-client-tls"}
    existing = render({"auth": {"existingSecret": "mine"}, "certificates": {"existingSecret": "t"}})
    assert by_kind(existing, "Secret") == []
    volumes = {v["name"]: v for v in
               by_kind(existing, "Deployment")[0]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["auth"]["secret"]["secretName"] == "mine"
    assert volumes["client-tls"]["secret"]["secretName"] == "t"
    container = _container(existing)
    assert all("value" not in e or "secret" not in e["name"].lower() for e in container["env"])
