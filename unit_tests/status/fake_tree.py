"""A fake ComponentStatus tree shared by the status endpoint, metrics and CLI tests."""

from messages.runtime import ComponentState, ComponentStatus, LinkStatus, Overflow

WEIRD_ID = 'synthetic_sink/we"ird\\name\nx'


def link(producer, consumer, *, received, forwarded, dropped, in_flight, window=8,
         batches=1, overflow=Overflow.BLOCK):
    return LinkStatus(link_id=f"{producer}->{consumer}", producer_id=producer,
                      consumer_id=consumer, overflow=overflow, window=window,
                      batches_in_flight=batches, received=received, forwarded=forwarded,
                      dropped=dropped, in_flight=in_flight)


def node(component_id, state=ComponentState.RUNNING, *, restarts=0, last_error="", links=(),
         counters=(), children=(), uptime_s=12.5):
    return ComponentStatus(request_id=1, component_id=component_id,
                           component_type=component_id.split("/")[0], state=state,
                           incarnation=restarts + 1, pid=4242, restarts=restarts,
                           last_error=last_error, uptime_s=uptime_s, links=tuple(links),
                           counters=tuple(counters), children=tuple(children))


def balanced_tree():
    source = node("synthetic_source/a", restarts=2, last_error="boom",
                  counters=[("records_generated_total", 1000.0), ("rate_per_s", 2.5)],
                  links=[link("synthetic_source/a", WEIRD_ID, received=1000, forwarded=900,
                              dropped=50, in_flight=50, overflow=Overflow.DROP_OLDEST)])
    sink = node(WEIRD_ID, counters=[("batches_total", 9.0)])
    pipeline = node("supervisor/pipeline", children=[sink, source])
    return node("supervisor/root", children=[pipeline], uptime_s=99.0)


def unbalanced_tree():
    source = node("synthetic_source/a", state=ComponentState.BACKOFF, restarts=3,
                  last_error="died", links=[link("synthetic_source/a", "synthetic_sink/b",
                                                 received=10, forwarded=5, dropped=0,
                                                 in_flight=0)])
    sink = node("synthetic_sink/b")
    return node("supervisor/root", children=[sink, source])
