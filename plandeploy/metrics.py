"""GET /metrics: queue, run and worker state in Prometheus' text format, read from the database.

Every value is computed from the database at scrape time, so any web process answers for the
whole deployment (per-process counters would differ between the processes behind a balancer).
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, Q, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from plandeploy import queue
from plandeploy.live.stats import LiveCollector
from plandeploy.runs.models import Job, PreflightResult, Status

RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
PREFLIGHT_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300)
ENDED = (Status.COMPLETE, Status.FAILED, Status.CANCELED)


def _by_status(model) -> dict[str, int]:
    return dict(model.objects.values_list("status").annotate(n=Count("pk")).order_by())


def _duration_histogram(name: str, documentation: str, model, buckets) -> HistogramMetricFamily:
    """Cumulative bucket counts of finished rows' durations, in one aggregate query.

    A row without started_at (it ended before it began running) counts from its creation.
    """
    duration = ExpressionWrapper(
        Coalesce("success_at", "canceled_at", "edited_at") - Coalesce("started_at", "created_at"),
        output_field=DurationField(),
    )
    rows = model.objects.filter(status__in=ENDED).annotate(duration=duration)
    aggregates = {
        f"le_{index}": Count("pk", filter=Q(duration__lte=timedelta(seconds=bound)))
        for index, bound in enumerate(buckets)
    }
    totals = rows.aggregate(count=Count("pk"), total=Sum("duration"), **aggregates)
    histogram = HistogramMetricFamily(name, documentation, unit="seconds")
    histogram.add_metric(
        [],
        [(str(float(bound)), totals[f"le_{index}"]) for index, bound in enumerate(buckets)]
        + [("+Inf", totals["count"])],
        sum_value=(totals["total"] or timedelta()).total_seconds(),
    )
    return histogram


class DatabaseCollector:
    """Reads the metrics from the database each time the registry is collected."""

    def collect(self):
        waiting = GaugeMetricFamily(
            "plandeploy_queue_waiting_jobs", "Jobs due and not yet started.", labels=["queue"]
        )
        running = GaugeMetricFamily(
            "plandeploy_queue_running_jobs", "Jobs a worker is running.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "plandeploy_queue_oldest_waiting_job_age_seconds",
            "How long the oldest waiting job has waited.", labels=["queue"],
        )
        for name, stats in sorted(queue.queue_stats().items()):
            waiting.add_metric([name], stats["waiting"])
            running.add_metric([name], stats["running"])
            oldest.add_metric([name], stats["oldest_waiting_seconds"] or 0)
        yield from (waiting, running, oldest)

        for metric, model, what in (("plandeploy_runs", Job, "Plan runs"),
                                    ("plandeploy_preflights", PreflightResult, "Preflights")):
            family = CounterMetricFamily(metric, f"{what} by status.", labels=["status"])
            for status, count in sorted(_by_status(model).items()):
                family.add_metric([status], count)
            yield family
        yield _duration_histogram(
            "plandeploy_run_duration", "Duration of finished plan runs.", Job, RUN_BUCKETS
        )
        yield _duration_histogram(
            "plandeploy_preflight_duration", "Duration of finished preflights.",
            PreflightResult, PREFLIGHT_BUCKETS,
        )

        last = GaugeMetricFamily(
            "plandeploy_scheduled_job_last_success_timestamp_seconds",
            "When each scheduled job last succeeded (Unix time).", labels=["schedule"],
        )
        for name, at in sorted(queue.last_periodic_successes().items()):
            last.add_metric([name], at)
        yield last

        workers, age = queue.worker_heartbeats()
        yield GaugeMetricFamily("plandeploy_workers", "Registered workers.", value=workers)
        if age is not None:
            yield GaugeMetricFamily(
                "plandeploy_newest_worker_heartbeat_age_seconds",
                "Age of the newest worker heartbeat.", value=age,
            )


def allowed(request: HttpRequest) -> bool:
    """A matching bearer token (METRICS_TOKEN), or a client in METRICS_ALLOWED_SUBNETS."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip(), token)
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in network for network in settings.METRICS_ALLOWED_SUBNETS)


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        if settings.METRICS_TOKEN:
            return JsonResponse({"detail": "A valid bearer token is required."}, status=401,
                                headers={"WWW-Authenticate": "Bearer"})
        # Without a token the endpoint does not exist for anyone outside the allow-list.
        raise Http404
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    registry.register(LiveCollector())  # this process's sockets only
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
