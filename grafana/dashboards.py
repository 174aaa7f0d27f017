"""kaption's Grafana dashboards as code (grafana-foundation-sdk, Grafana 11.6 schema).

``python grafana/dashboards.py`` writes ``grafana/dashboards/*.json``, the files Grafana's file
provider loads; ``python grafana/dashboards.py --check`` exits 1 when they differ from what this
module builds (the JSON is committed, a test compares it).

Two dashboards, one Prometheus data source with the fixed uid ``kaption-prometheus``:

* ``kaption-pipeline``: the pipeline as a whole (throughput, consumer lag, queueing against
  processing time, job latency, inference speed, errors, jobs by state, live caption latency);
* ``kaption-worker``: one line per scrape target (``instance``): readiness, CPU, memory, events,
  processing and inference time, batch sizes, model load time.

Queries aggregate with ``sum by (...)`` so that they give series whatever the number of worker
processes, use ``$__rate_interval`` for every range and no template variable, so every query is
valid PromQL once Grafana (or a test) substitutes ``$__rate_interval``. Counters that stay absent
until something goes wrong (dead letters, retries) fall back to ``vector(0)``: the panel shows 0
instead of "No data".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"

DATASOURCE_UID = "kaption-prometheus"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
TAGS = ["kaption"]
RATE = "$__rate_interval"
# Absent series (nothing went wrong yet) read as 0 rather than "No data".
OR_ZERO = " or on () vector(0)"

# --- PromQL ---------------------------------------------------------------------------------


def rate(metric: str, by: str = "", selector: str = "") -> str:
    """``sum by (by) (rate(metric{selector}[$__rate_interval]))``; plain ``sum`` without ``by``."""
    aggregation = f"sum by ({by})" if by else "sum"
    return f"{aggregation} (rate({metric}{selector}[{RATE}]))"


def mean(histogram: str, by: str) -> str:
    """Mean observation of a histogram over the interval: rate of its sum over rate of its count."""
    return f"{rate(histogram + '_sum', by)} / {rate(histogram + '_count', by)}"


def quantile(q: float, histogram: str, by: str) -> str:
    """``histogram_quantile`` of the buckets, aggregated by ``le`` and ``by``."""
    return f"histogram_quantile({q}, {rate(histogram + '_bucket', f'le, {by}' if by else 'le')})"


def kaption_only(expr: str) -> str:
    """Keep the series of kaption processes (those that export ``kaption_ready``), whatever the
    scrape job is called."""
    return f"{expr} and on (instance) kaption_ready"


# --- Panels ---------------------------------------------------------------------------------

Query = tuple[str, str]  # PromQL, legend format


def _legend(prefix: str, by: str) -> str:
    labels = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(",") if label.strip())
    return f"{prefix} {labels}".strip()


def mean_and_p95(histogram: str, by: str) -> list[Query]:
    return [
        (mean(histogram, by), _legend("mean", by)),
        (quantile(0.95, histogram, by), _legend("p95", by)),
    ]


def p50_and_p95(histogram: str, by: str) -> list[Query]:
    return [
        (quantile(q, histogram, by), _legend(name, by)) for q, name in ((0.5, "p50"), (0.95, "p95"))
    ]


def _targets(queries: Sequence[Query]) -> list[Builder[variants.Dataquery]]:
    return [
        prometheus.Dataquery()
        .datasource(DATASOURCE)
        .expr(expr)
        .legend_format(legend)
        .range()
        .ref_id(chr(ord("A") + index))
        for index, (expr, legend) in enumerate(queries)
    ]


def graph(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    width: int = 12,
    height: int = 8,
    stacked: bool = False,
) -> timeseries.Panel:
    """A time series panel, legend as a table with mean and last value."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .span(width)
        .height(height)
        .min(0)
        .fill_opacity(10)
        .line_width(1)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "lastNotNull"])
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if stacked:
        panel = panel.stacking(
            common_builder.StackingConfig().mode(common.StackingMode.NORMAL)
        ).fill_opacity(40)
    return panel


def single(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    width: int = 6,
    height: int = 4,
    mappings: list[model.ValueMapping] | None = None,
    thresholds: list[model.Threshold] | None = None,
) -> stat.Panel:
    """A stat panel showing the last value of each series."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .span(width)
        .height(height)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
    )
    if mappings:
        panel = panel.mappings(mappings)
    if thresholds:
        panel = panel.thresholds(
            dashboard.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(thresholds)
        )
    return panel


PanelBuilder = timeseries.Panel | stat.Panel


def _dashboard(
    uid: str, title: str, description: str, rows: Sequence[tuple[str, Sequence[PanelBuilder]]]
) -> dict[str, Any]:
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .timezone("browser")
        .time("now-1h", "now")
        .refresh("30s")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(
            dashboard.DashboardLink("kaption")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(False)
            .keep_time(True)
            .include_vars(False)
            .target_blank(False)
        )
    )
    panel_id = 0
    for row_title, panels in rows:
        panel_id += 1
        board = board.with_row(dashboard.Row(row_title).id(panel_id).collapsed(False))
        # Panels of an expanded row follow it at the top level (Grafana's own layout): the
        # builder places them after the row.
        for panel in panels:
            panel_id += 1
            board = board.with_panel(panel.id(panel_id))
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


# --- Pipeline overview ----------------------------------------------------------------------

STAGE_EVENTS = "kaption_stage_events_total"
QUEUE = "kaption_stage_queue_seconds"
PROCESSING = "kaption_stage_processing_seconds"
INFERENCE = "kaption_inference_seconds"
RTF = "kaption_inference_real_time_factor"
BATCH = "kaption_batch_size"
CPU = "process_cpu_seconds_total"


def pipeline() -> dict[str, Any]:
    overview: list[PanelBuilder] = [
        single(
            "Ready processes",
            "kaption processes reporting ready (broker reachable, groups joined, model loaded).",
            "none",
            [("sum(kaption_ready)", "ready")],
        ),
        single(
            "Events consumed/s",
            "Events all stages consumed per second, every outcome.",
            "ops",
            [(rate(STAGE_EVENTS), "events/s")],
        ),
        single(
            "Consumer lag",
            "Records the kaption consumer groups have yet to read, all topics (lag exporter).",
            "short",
            [("sum(kafka_consumergroup_lag_sum)", "lag")],
        ),
        single(
            "Dead letters/s",
            "Records sent to dead-letter topics per second.",
            "ops",
            [(rate("kaption_dead_letters_total") + OR_ZERO, "dead letters/s")],
            thresholds=[model.Threshold(None, "green"), model.Threshold(0.0001, "red")],
        ),
    ]
    throughput: list[PanelBuilder] = [
        graph(
            "Events consumed/s by stage and outcome",
            "Events each stage consumed per second: ok, bad_input (the job failed with a reason),"
            " dead_letter.",
            "ops",
            [(rate(STAGE_EVENTS, "stage, outcome"), "{{stage}} {{outcome}}")],
        ),
        graph(
            "Events published/s by stage",
            "Events each stage published per second, all topics.",
            "ops",
            [(rate("kaption_stage_events_published_total", "stage"), "{{stage}}")],
        ),
        graph(
            "Audio seconds processed per second",
            "Seconds of audio each stage processed per second of wall time (decoded, searched"
            " for speech, transcribed): 10 is ten times real time.",
            "none",
            [(rate("kaption_audio_seconds_total", "stage"), "{{stage}}")],
        ),
    ]
    backlog: list[PanelBuilder] = [
        graph(
            "Consumer lag per consumer group",
            "Records each consumer group has yet to read, summed over its topics and partitions"
            " (kafka_consumergroup_lag_sum from the lag exporter). Groups are <prefix><stage>.",
            "short",
            [("sum by (consumergroup) (kafka_consumergroup_lag_sum)", "{{consumergroup}}")],
        ),
        graph(
            "Consumers per consumer group",
            "Members of each consumer group (kafka_consumergroup_members).",
            "none",
            [("sum by (consumergroup) (kafka_consumergroup_members)", "{{consumergroup}}")],
        ),
    ]
    latency: list[PanelBuilder] = [
        graph(
            "Queueing time per stage",
            "How long an event waited in Kafka before its stage picked it up: mean and p95.",
            "s",
            mean_and_p95(QUEUE, "stage"),
        ),
        graph(
            "Processing time per stage",
            "How long a stage took over one event, publishing included: mean and p95.",
            "s",
            mean_and_p95(PROCESSING, "stage"),
        ),
    ]
    jobs: list[PanelBuilder] = [
        graph(
            "Jobs by state",
            "Jobs in the orchestrator's table, by state.",
            "short",
            [("sum by (state) (kaption_jobs)", "{{state}}")],
            width=8,
        ),
        graph(
            "Jobs finished/s by state",
            "Jobs that reached a final state per second.",
            "ops",
            [(rate("kaption_jobs_finished_total", "state"), "{{state}}")],
            width=8,
        ),
        graph(
            "Job latency",
            "From a job's request to its final state, all final states: p50 and p95.",
            "s",
            p50_and_p95("kaption_job_duration_seconds", ""),
            width=8,
        ),
    ]
    inference: list[PanelBuilder] = [
        graph(
            "Real-time factor of inference",
            "Compute time over audio time of one model call, by stage: p50 and p95. Below 1 is"
            " faster than real time.",
            "none",
            p50_and_p95(RTF, "stage"),
        ),
        graph(
            "Live caption latency",
            "From the capture of the audio that ends a word to its first (interim) or final"
            " publication: p50 and p95 by kind. Empty until live streams run.",
            "s",
            p50_and_p95("kaption_live_caption_latency_seconds", "kind"),
        ),
    ]
    errors: list[PanelBuilder] = [
        graph(
            "Errors and dead letters",
            "Records sent to dead-letter topics per second by stage and reason (error class),"
            " and events consumed with another outcome than ok.",
            "ops",
            [
                (
                    rate("kaption_dead_letters_total", "stage, reason") + OR_ZERO,
                    "dead letter {{stage}} {{reason}}",
                ),
                (
                    rate(STAGE_EVENTS, "stage, outcome", '{outcome!="ok"}') + OR_ZERO,
                    "{{stage}} {{outcome}}",
                ),
            ],
        ),
        graph(
            "Retries",
            "Failed attempts that were tried again per second, by stage and reason.",
            "ops",
            [(rate("kaption_retries_total", "stage, reason") + OR_ZERO, "{{stage}} {{reason}}")],
        ),
    ]
    return _dashboard(
        "kaption-pipeline",
        "kaption / Pipeline overview",
        "kaption's subtitle pipeline (decode, vad, transcribe, cues, subtitles, orchestrator):"
        " throughput, backlog, latency, inference speed and errors.",
        [
            ("Overview", overview),
            ("Throughput", throughput),
            ("Backlog", backlog),
            ("Queueing and processing", latency),
            ("Jobs", jobs),
            ("Inference", inference),
            ("Errors", errors),
        ],
    )


# --- Worker view ----------------------------------------------------------------------------


def worker() -> dict[str, Any]:
    ready_mappings: list[model.ValueMapping] = [
        model.ValueMap(
            {
                "0": model.ValueMappingResult(text="not ready", color="red", index=0),
                "1": model.ValueMappingResult(text="ready", color="green", index=1),
            }
        )
    ]
    processes: list[PanelBuilder] = [
        single(
            "Ready",
            "1 when the process is ready: broker reachable, groups joined, model loaded.",
            "none",
            [("max by (instance) (kaption_ready)", "{{instance}}")],
            width=24,
            mappings=ready_mappings,
            thresholds=[model.Threshold(None, "red"), model.Threshold(1, "green")],
        ),
        graph(
            "CPU",
            "CPU seconds per second (cores in use) of each kaption process.",
            "none",
            [
                (
                    f"sum by (instance) ({kaption_only(f'rate({CPU}[{RATE}])')})",
                    "{{instance}}",
                )
            ],
        ),
        graph(
            "Resident memory",
            "Resident set size of each kaption process.",
            "bytes",
            [
                (
                    f"sum by (instance) ({kaption_only('process_resident_memory_bytes')})",
                    "{{instance}}",
                )
            ],
        ),
    ]
    stages: list[PanelBuilder] = [
        graph(
            "Events consumed/s by stage",
            "Events each process consumed per second, by stage (every outcome).",
            "ops",
            [(rate(STAGE_EVENTS, "instance, stage"), "{{instance}} {{stage}}")],
        ),
        graph(
            "Processing time by stage",
            "How long a stage took over one event in each process: mean and p95.",
            "s",
            mean_and_p95(PROCESSING, "instance, stage"),
        ),
    ]
    inference: list[PanelBuilder] = [
        graph(
            "Inference time per call",
            "Compute time of one model call (speech detection of a window, transcription of a"
            " segment or batch): mean and p95.",
            "s",
            mean_and_p95(INFERENCE, "instance, stage"),
        ),
        graph(
            "Inference busy time",
            "Seconds of model compute per second of wall time: 1 is one model busy all the time.",
            "none",
            [(rate(INFERENCE + "_sum", "instance, stage"), "{{instance}} {{stage}}")],
        ),
        graph(
            "Batch size",
            "Segments per model call: mean and p95.",
            "none",
            mean_and_p95(BATCH, "instance, stage"),
        ),
        single(
            "Model load time",
            "How long loading the model took in each process.",
            "s",
            [("max by (instance, stage) (kaption_model_load_seconds)", "{{instance}} {{stage}}")],
            width=12,
            height=8,
        ),
        single(
            "Serving model",
            "The model (name@version) each process's stage serves now (`kaption models use`"
            " switches it without downtime).",
            "none",
            [
                (
                    "max by (instance, stage, model) (kaption_model_serving) == 1",
                    "{{instance}} {{stage}} {{model}}",
                )
            ],
            width=12,
            height=8,
        ),
        graph(
            "Model switches",
            "Switches made (served) and refused because the model did not load (failed: the old"
            " one serves on), per second.",
            "none",
            [(rate("kaption_model_switches_total", "stage, outcome"), "{{stage}} {{outcome}}")],
        ),
    ]
    return _dashboard(
        "kaption-worker",
        "kaption / Workers",
        "Each kaption process (scrape target, instance): readiness, resources, stage and"
        " inference timings.",
        [("Processes", processes), ("Stages", stages), ("Inference", inference)],
    )


# --- Files ----------------------------------------------------------------------------------


def build() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON, as written under grafana/dashboards/."""
    return {"kaption-pipeline.json": pipeline(), "kaption-worker.json": worker()}


def render(board: dict[str, Any]) -> str:
    """The committed form of a dashboard: stable key order, two-space indent, final newline."""
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel, rows' nested panels included."""
    queries: list[tuple[str, str]] = []

    def visit(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets") or []:
                queries.append((panel.get("title", ""), target["expr"]))
            visit(panel.get("panels") or [])

    visit(board.get("panels") or [])
    return queries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed files differ, write nothing"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    out: Path = args.out
    boards = {name: render(board) for name, board in build().items()}
    if args.check:
        stale = sorted(
            name
            for name, text in boards.items()
            if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
        )
        extra = sorted(p.name for p in out.glob("*.json") if p.name not in boards)
        for name in stale:
            print(f"{out / name}: differs from grafana/dashboards.py", file=sys.stderr)
        for name in extra:
            print(f"{out / name}: not generated by grafana/dashboards.py", file=sys.stderr)
        if stale or extra:
            print("run: python grafana/dashboards.py", file=sys.stderr)
            return 1
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in boards.items():
        (out / name).write_text(text, encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
