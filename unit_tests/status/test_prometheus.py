"""Prometheus text exposition of a fake status tree: exact text, escaping, conservation."""

import math

from actors.runtime.prometheus import all_links, escape_label_value, render_metrics
from unit_tests.status.fake_tree import balanced_tree, node, unbalanced_tree

SINK = 'component="synthetic_sink/we\\"ird\\\\name\\nx",type="synthetic_sink"'
SOURCE = 'component="synthetic_source/a",type="synthetic_source"'
PIPE = 'component="supervisor/pipeline",type="supervisor"'
ROOT = 'component="supervisor/root",type="supervisor"'
LINK = ('link="synthetic_source/a->synthetic_sink/we\\"ird\\\\name\\nx",from="synthetic_source/a",'
        'to="synthetic_sink/we\\"ird\\\\name\\nx",overflow="drop_oldest"')

EXPECTED = f"""\
# HELP kestrel_actor_system_up 1 when the actor system answered the status probe
# TYPE kestrel_actor_system_up gauge
kestrel_actor_system_up 1
# HELP kestrel_batches_total component counter batches_total
# TYPE kestrel_batches_total counter
kestrel_batches_total{{{SINK}}} 9
# HELP kestrel_component_restarts_total restarts of the component since start
# TYPE kestrel_component_restarts_total counter
kestrel_component_restarts_total{{{ROOT}}} 0
kestrel_component_restarts_total{{{PIPE}}} 0
kestrel_component_restarts_total{{{SINK}}} 0
kestrel_component_restarts_total{{{SOURCE}}} 2
# HELP kestrel_component_up 1 when the component is running, else 0
# TYPE kestrel_component_up gauge
kestrel_component_up{{{ROOT}}} 1
kestrel_component_up{{{PIPE}}} 1
kestrel_component_up{{{SINK}}} 1
kestrel_component_up{{{SOURCE}}} 1
# HELP kestrel_component_uptime_seconds seconds since the component last started
# TYPE kestrel_component_uptime_seconds gauge
kestrel_component_uptime_seconds{{{ROOT}}} 99
kestrel_component_uptime_seconds{{{PIPE}}} 12.5
kestrel_component_uptime_seconds{{{SINK}}} 12.5
kestrel_component_uptime_seconds{{{SOURCE}}} 12.5
# HELP kestrel_link_dropped_records_total records dropped on overflow
# TYPE kestrel_link_dropped_records_total counter
kestrel_link_dropped_records_total{{{LINK}}} 50
# HELP kestrel_link_forwarded_records_total records the consumer acknowledged
# TYPE kestrel_link_forwarded_records_total counter
kestrel_link_forwarded_records_total{{{LINK}}} 900
# HELP kestrel_link_in_flight_batches batches sent and not yet acknowledged
# TYPE kestrel_link_in_flight_batches gauge
kestrel_link_in_flight_batches{{{LINK}}} 1
# HELP kestrel_link_in_flight_records records sent and not yet acknowledged
# TYPE kestrel_link_in_flight_records gauge
kestrel_link_in_flight_records{{{LINK}}} 50
# HELP kestrel_link_received_records_total records the producer took in
# TYPE kestrel_link_received_records_total counter
kestrel_link_received_records_total{{{LINK}}} 1000
# HELP kestrel_link_window_batches credit window of the link, in batches
# TYPE kestrel_link_window_batches gauge
kestrel_link_window_batches{{{LINK}}} 8
# HELP kestrel_links_conserved 1 when received = forwarded + dropped + in flight on every link
# TYPE kestrel_links_conserved gauge
kestrel_links_conserved 1
# HELP kestrel_rate_per_s component counter rate_per_s
# TYPE kestrel_rate_per_s gauge
kestrel_rate_per_s{{{SOURCE}}} 2.5
# HELP kestrel_records_generated_total component counter records_generated_total
# TYPE kestrel_records_generated_total counter
kestrel_records_generated_total{{{SOURCE}}} 1000
"""


def test_exact_exposition_of_a_balanced_tree():
    assert render_metrics(balanced_tree()) == EXPECTED


def test_label_escaping():
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_unbalanced_link_and_down_component():
    text = render_metrics(unbalanced_tree())
    assert "kestrel_links_conserved 0\n" in text
    assert ('kestrel_component_up{component="synthetic_source/a",type="synthetic_source"} 0\n'
            in text)


def test_no_answer_renders_only_system_down():
    assert render_metrics(None).splitlines()[-1] == "kestrel_actor_system_up 0"
    assert "kestrel_component_up" not in render_metrics(None)


def test_odd_counter_names_values_and_collisions():
    tree = node("synthetic_sink/b", counters=[("bytes.in-flight", math.nan),
                                              ("component_up", 5.0), ("big", math.inf),
                                              ("bytes_in_flight", 1.0)])
    text = render_metrics(tree)
    assert 'kestrel_bytes_in_flight{component="synthetic_sink/b",type="synthetic_sink"} NaN' \
        in text
    assert text.count("kestrel_bytes_in_flight{") == 1   # second spelling of the same name
    assert 'kestrel_counter_component_up{component="synthetic_sink/b"' in text
    assert 'kestrel_big{component="synthetic_sink/b",type="synthetic_sink"} +Inf' in text
    # every family has HELP and TYPE exactly once
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(families) == len(set(families))


def test_links_collected_once_from_the_whole_tree():
    assert [link.link_id for link in all_links(balanced_tree())] == [
        'synthetic_source/a->synthetic_sink/we"ird\\name\nx']
