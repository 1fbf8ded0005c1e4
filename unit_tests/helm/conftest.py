"""Render the chart once per values file (helm-python-sdk: the Helm v4 SDK, no helm binary)."""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "kestrel-operator"
SHARED = REPO.parent / "shared"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE, NAMESPACE = "kestrel-operator", "kestrel-ai"


def load_values(path: pathlib.Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


@functools.cache
def _render_cached(values_yaml: str, release: str, namespace: str) -> tuple[dict[str, Any], ...]:
    import helm_python

    chart = helm_python.Chart.load(str(CHART))
    try:
        rendered = chart.render(yaml.safe_load(values_yaml) or {}, name=release,
                                namespace=namespace, is_install=True)
    finally:
        chart.close()
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return tuple(docs)


def render(values: dict[str, Any], release: str = RELEASE,
           namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    return list(_render_cached(yaml.safe_dump(values, sort_keys=True), release, namespace))


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.fixture(params=CI_VALUES, ids=lambda p: p.name.removesuffix("-values.yaml"))
def ci_values(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_values(request.param)
