"""sim.otel.bulk: one cycle covers every series once; retiming changes only the timestamps."""

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from sim.otel.bulk import cycle_bodies, retimed


def test_cycle_bodies_cover_every_series_and_retime_only_point_times():
    bodies = cycle_bodies(pods=5, metrics_per_pod=3, pods_per_request=2)
    assert len(bodies) == 3
    times, series = set(), set()
    for body in bodies:
        request = ExportMetricsServiceRequest.FromString(retimed(body, 123456789))
        for rm in request.resource_metrics:
            pod = next(kv.value.string_value for kv in rm.resource.attributes
                       if kv.key == "k8s.pod.name")
            for metric in rm.scope_metrics[0].metrics:
                for point in metric.sum.data_points:
                    times.add(point.time_unix_nano)
                    assert point.start_time_unix_nano == 1
                    series.add((pod, metric.name))
    assert times == {123456789}
    assert len(series) == 15
