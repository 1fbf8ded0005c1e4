"""A table of broken topology files, each mapped to its EXACT, complete list of problems."""

import pytest

from actors.runtime.registry import default_registry
from actors.runtime.topology import TopologyError, load_topology

GOOD = """
actors:
  supervisor/root: {children: [synthetic_sink/b, synthetic_source/a]}
  synthetic_source/a: {}
  synthetic_sink/b: {}
links:
  - {from: synthetic_source/a, to: synthetic_sink/b}
"""
SOURCE_KEYS = ("batch_records, enabled, exit_when_done, rate_per_s, record_bytes, restart, "
               "shutdown_timeout, total")


def with_source(body: str) -> str:
    return GOOD.replace("synthetic_source/a: {}", f"synthetic_source/a: {body}")


def with_links(*lines: str) -> str:
    return GOOD.replace("  - {from: synthetic_source/a, to: synthetic_sink/b}",
                        "\n".join(f"  - {line}" for line in lines))


CASES = {
    "yaml_unclosed_flow": ("actors:\n  supervisor/root: {children: [x\n", [
        "yaml: line 3, column 1: expected ',' or ']', but got '<stream end>'"]),
    "yaml_bad_indent": ("actors:\n  a: 1\n b: 2\n", [
        "yaml: line 3, column 2: expected <block end>, but found '<block mapping start>'"]),
    "empty_file": ("", ["topology: the file is empty"]),
    "only_comments": ("# nothing here\n", ["topology: the file is empty"]),
    "top_level_list": ("- a\n- b\n", [
        "topology: the top level must be a mapping with operator, actors and links (got a list)"]),
    "top_level_scalar": ("hello\n", [
        "topology: the top level must be a mapping with operator, actors and links "
        "(got 'hello')"]),
    "duplicate_component": ("actors:\n  supervisor/root: {}\n  supervisor/root: {}\n", [
        "yaml: line 3, column 3: duplicate key 'supervisor/root'"]),
    "misspelled_section": ("actor:\n  supervisor/root: {}\n", [
        "actor: unknown key (did you mean 'actors'?)",
        "actors: required (a mapping of type/name ids to settings)"]),
    "sections_of_wrong_shape": ("actors: [a, b]\nlinks: {a: b}\n", [
        "actors: must be a non-empty mapping (got a list)",
        "links: must be a list of {from, to, window, overflow} (got a mapping)"]),
    "no_root": ("actors:\n  supervisor/main: {children: [synthetic_source/a]}\n"
                "  synthetic_source/a: {}\n", [
        "actors: missing the root component 'supervisor/root'"]),
    "source_ranges": (with_source(
        "{rate_per_s: 0, batch_records: 0, record_bytes: 2000000, total: -1}"), [
        "actors.synthetic_source/a.batch_records: must be ≥ 1",
        "actors.synthetic_source/a.rate_per_s: must be > 0",
        "actors.synthetic_source/a.record_bytes: must be ≤ 1048576",
        "actors.synthetic_source/a.total: must be ≥ 0"]),
    "unknown_keys": (with_source("{rate_per_sec: 5, batch: 3, colour: red}"), [
        f"actors.synthetic_source/a.batch: unknown key (known keys: {SOURCE_KEYS})",
        f"actors.synthetic_source/a.colour: unknown key (known keys: {SOURCE_KEYS})",
        "actors.synthetic_source/a.rate_per_sec: unknown key (did you mean 'rate_per_s'?)"]),
    "wrong_types": (with_source("{rate_per_s: fast, batch_records: 1.5, restart: sometimes, "
                                "enabled: yes please, shutdown_timeout: 5 parsecs}"), [
        "actors.synthetic_source/a.batch_records: must be an integer (got 1.5)",
        "actors.synthetic_source/a.enabled: must be true or false (got 'yes please')",
        "actors.synthetic_source/a.rate_per_s: must be a number (got 'fast')",
        "actors.synthetic_source/a.restart: must be one of permanent, transient, temporary "
        "(got 'sometimes')",
        "actors.synthetic_source/a.shutdown_timeout: must be a duration such as 200ms, 30s, 5m, "
        "1h or seconds (got '5 parsecs')"]),
    "bad_links": (with_links(
        "{from: synthetic_source/a, to: synthetic_sink/b, window: 0, overflow: dropoldest}",
        "{from: synthetic_source/a, to: synthetic_sink/b, window: 65}",
        "{from: synthetic_source/a}",
        "{from: synthetic_source/a, to: synthetic_sinkb}",
        "{from: supervisor/root, to: synthetic_source/a}",
        "{from: synthetic_sink/b, to: synthetic_sink/b}",
        "{from: synthetic_source/a, to: synthetic_sink/b, weight: 2}",
        "7"), [
        "links[0].overflow: must be one of block, drop_oldest (got 'dropoldest')",
        "links[0].window: must be ≥ 1",
        "links[1].window: must be ≤ 64",
        "links[2].to: required",
        "links[3].to: unknown component 'synthetic_sinkb' (did you mean 'synthetic_sink/b'?)",
        "links[4].from: 'supervisor/root' is a supervisor; links connect workers",
        "links[5]: a component cannot link to itself",
        "links[6].weight: unknown key (known keys: from, overflow, request, to, window)",
        "links[7]: must be a mapping (got 7)"]),
    "duplicate_link": (with_links("{from: synthetic_source/a, to: synthetic_sink/b}",
                                  "{from: synthetic_source/a, to: synthetic_sink/b, window: 4}"), [
        "links[1]: duplicates links[0] (synthetic_source/a -> synthetic_sink/b)"]),
    "data_cycle": ("""
actors:
  supervisor/root: {children: [synthetic_sink/b, synthetic_aggregator/c, synthetic_source/a]}
  synthetic_source/a: {}
  synthetic_aggregator/c: {}
  synthetic_sink/b: {}
links:
  - {from: synthetic_sink/b, to: synthetic_aggregator/c}
  - {from: synthetic_aggregator/c, to: synthetic_source/a}
  - {from: synthetic_source/a, to: synthetic_sink/b}
""", ["links: data cycle synthetic_aggregator/c -> synthetic_source/a -> synthetic_sink/b "
      "-> synthetic_aggregator/c (credit windows would deadlock)"]),
    "lossy_request_link": (with_links(
        "{from: synthetic_source/a, to: synthetic_sink/b, request: true, overflow: drop_oldest}"), [
        "links[0].overflow: request links are lossless: must be block"]),
    "bad_tree": ("""
actors:
  supervisor/root:
    children: [supervisor/x, synthetic_sink/b, synthetic_sink/b, synthetic_sink/c, supervisor/root]
  supervisor/x: {children: [synthetic_sink/b, supervisor/x]}
  supervisor/y: {children: [supervisor/z]}
  supervisor/z: {children: [supervisor/y, synthetic_source/a]}
  synthetic_source/a: {}
  synthetic_sink/b: {children: [synthetic_source/a]}
  synthetic_sink/orphan: {}
""", [
        "actors.supervisor/root.children[2]: 'synthetic_sink/b' is listed twice",
        "actors.supervisor/root.children[3]: unknown component 'synthetic_sink/c' "
        "(did you mean 'synthetic_sink/b'?)",
        "actors.supervisor/root.children[4]: the root 'supervisor/root' cannot be a child",
        "actors.supervisor/x.children[0]: 'synthetic_sink/b' is already a child of "
        "supervisor/root",
        "actors.supervisor/x.children[1]: a supervisor cannot be its own child",
        "actors.supervisor/y: supervision cycle supervisor/y -> supervisor/z -> supervisor/y, "
        "not reachable from supervisor/root",
        "actors.supervisor/z: supervision cycle supervisor/y -> supervisor/z -> supervisor/y, "
        "not reachable from supervisor/root",
        "actors.synthetic_sink/b.children: only supervisors have children",
        "actors.synthetic_sink/orphan: orphan: no supervisor lists it in its children",
        "actors.synthetic_source/a: not reachable from supervisor/root "
        "(its supervisor supervisor/z is not)"]),
    "bad_ids_and_types": ("actors:\n  supervisor/root: {children: [Bad/Name, widget/x]}\n"
                          "  Bad/Name: {}\n  widget/x: {}\n  synthetic_sorce/y: {}\n", [
        "actors.Bad/Name: the id must be type or type/name (a lower_snake_case type, a name "
        "without whitespace)",
        "actors.supervisor/root.children[0]: unknown component 'Bad/Name'",
        "actors.synthetic_sorce/y: orphan: no supervisor lists it in its children",
        "actors.synthetic_sorce/y: unknown component type 'synthetic_sorce' "
        "(did you mean 'synthetic_source'?)",
        "actors.widget/x: unknown component type 'widget' (known types: "
        + ", ".join(default_registry().names()) + ")"]),
    "bad_supervisor": ("actors:\n  supervisor/root: {strategy: one_for_some, max_restarts: -1, "
                       "within: 0, backoff: {min: 2s, jitter: 3}, children: synthetic_sink/a}\n", [
        "actors.supervisor/root.backoff.jitter: unknown key (known keys: max, min, reset_after)",
        "actors.supervisor/root.children: must be a list of non-empty strings "
        "(got 'synthetic_sink/a')",
        "actors.supervisor/root.max_restarts: must be ≥ 0",
        "actors.supervisor/root.strategy: must be one of one_for_one, one_for_all, rest_for_one "
        "(got 'one_for_some')",
        "actors.supervisor/root.within: must be > 0"]),
    "backoff_min_above_max": ("actors:\n  supervisor/root: {backoff: {min: 2s, max: 1s}}\n", [
        "actors.supervisor/root.backoff.min: must be ≤ 'backoff.max'"]),
    "bad_operator": ("operator:\n  cluster_name: ''\n  status: {port: 70000, hots: x}\n"
                     "  logging: {format: xml, level: info}\n  drain_timeout: -1\n"
                     "  shutdown_timeout: soon\n  actor_system: 3\n  colour: blue\n"
                     "actors:\n  supervisor/root: {}\n", [
        "operator.actor_system: must be a mapping (got 3)",
        "operator.cluster_name: must be a non-empty string (got '')",
        "operator.colour: unknown key (known keys: actor_system, cluster_name, drain_timeout, "
        "logging, shutdown_timeout, status)",
        "operator.drain_timeout: must be > 0",
        "operator.logging.format: must be one of text, json (got 'xml')",
        "operator.logging.level: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
        "(got 'info')",
        "operator.shutdown_timeout: must be a duration such as 200ms, 30s, 5m, 1h or seconds "
        "(got 'soon')",
        "operator.status.hots: unknown key (did you mean 'host'?)",
        "operator.status.port: must be ≤ 65535"]),
    "root_disabled": ("actors:\n  supervisor/root: {enabled: false}\n", [
        "actors.supervisor/root.enabled: the root cannot be disabled"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_file_reports_exactly_these_problems(name):
    text, expected = CASES[name]
    with pytest.raises(TopologyError) as caught:
        load_topology(text, env={})
    assert caught.value.problems == expected
    assert str(caught.value) == "\n".join(expected)


def test_table_is_large_enough():
    assert len(CASES) >= 15


def test_problems_sort_numbers_naturally():
    lines = [f"{{from: synthetic_source/a, to: synthetic_sink/b, window: {n}}}" for n in
             (0,) * 12]
    with pytest.raises(TopologyError) as caught:
        load_topology(with_links(*lines), env={})
    windows = [p for p in caught.value.problems if p.endswith("must be ≥ 1")]
    assert windows == [f"links[{i}].window: must be ≥ 1" for i in range(12)]


def test_unreadable_path_is_a_problem(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(TopologyError) as caught:
        load_topology(missing, env={})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"file: cannot read '{missing}'")


def test_absurd_nesting_is_a_problem_not_a_crash():
    with pytest.raises(TopologyError) as caught:
        load_topology("actors: " + "[" * 2000 + "]" * 2000 + "\n", env={})
    assert caught.value.problems == ["yaml: line 1, column 40: nested deeper than 32 levels"]


def test_domain_check_hook_reports_with_key_paths():
    from actors.runtime.registry import ComponentRegistry, runtime_component_types
    from actors.runtime.settings_schema import ComponentType, Kind, Setting

    def check(settings):
        if "secret" in settings["rules"]:
            yield "rules.secret", "must not be set here"

    ring = ComponentType(name="metrics_ring", actor_class="a.b.C", doc="d",
                         settings=(Setting(name="rules", kind=Kind.ANY, default={}),),
                         check=check)
    registry = ComponentRegistry([*runtime_component_types(), ring])
    text = ("actors:\n  supervisor/root: {children: [metrics_ring/m]}\n"
            "  metrics_ring/m: {rules: {secret: 1}}\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(text, env={}, registry=registry)
    assert caught.value.problems == ["actors.metrics_ring/m.rules.secret: must not be set here"]


def test_request_links_may_close_a_cycle_but_data_links_may_not():
    text = """
actors:
  supervisor/root: {children: [synthetic_aggregator/a, synthetic_aggregator/b]}
  synthetic_aggregator/a: {}
  synthetic_aggregator/b: {}
links:
  - {from: synthetic_aggregator/a, to: synthetic_aggregator/b, request: true}
  - {from: synthetic_aggregator/b, to: synthetic_aggregator/a}
"""
    topology = load_topology(text, env={})
    assert [link.request for link in topology.links] == [True, False]
    with pytest.raises(TopologyError, match="data cycle"):
        load_topology(text.replace("request: true", "request: false"), env={})
