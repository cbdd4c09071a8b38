"""The lab's pictures. Each function returns a matplotlib Figure (shown when it ends a cell).

Figures are built without pyplot, so a notebook shows each exactly once and
nothing global changes between cells.
"""

from __future__ import annotations

from itertools import pairwise

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MultipleLocator

from .event_time import DROPPED, LATE_KEPT, ON_TIME, EventTimeRun, fate
from .generate import START_MS

__all__ = ["card_features", "card_runs", "commit_order", "compat_matrix", "differing_features",
           "event_time", "failovers", "group_timeline", "hex_dump", "latency_breakdown",
           "latency_cdf", "replica_logs", "scaling", "stage_breakdown", "stored_bytes",
           "throughput", "timeline", "transaction_log", "utf8_lead_bytes", "where_inputs_went"]

PREFIX_PARTS = {"length varint", "union branch", "magic byte", "schema id"}


def _char(byte: int) -> str:
    return chr(byte) if 0x20 <= byte < 0x7F else "·"


def hex_dump(data: bytes, layout: list[tuple[str, str, int, int]], *,
             highlight: int | None = None, note: str = "", title: str = "",
             per_row: int = 16) -> Figure:
    """Bytes in a grid, coloured by the field they encode (hatched: length/branch prefixes).

    `layout` is `lessons.avro_bytes.byte_layout(...)`; `highlight` circles one byte and
    `note` explains it.
    """
    fields = list(dict.fromkeys(field for field, *_ in layout))
    colours = colormaps["tab20"]
    colour_of = {field: colours(i % 20) for i, field in enumerate(fields)}
    rows = (len(data) + per_row - 1) // per_row
    fig = Figure(figsize=(per_row * 0.78, rows * 0.62 + (1.9 if note else 1.0)))
    ax = fig.add_subplot()
    for field, part, start, end in layout:
        for position in range(start, min(end, len(data))):
            row, col = divmod(position, per_row)
            hatch = "///" if part in PREFIX_PARTS else None
            ax.add_patch(Rectangle((col, -row), 1, -1, facecolor=colour_of[field],
                                   edgecolor="white", hatch=hatch))
            byte = data[position]
            ax.text(col + 0.5, -row - 0.38, f"{byte:02x}", ha="center", va="center",
                    fontsize=10, family="monospace", weight="bold" if byte >= 0x80 else "normal")
            ax.text(col + 0.5, -row - 0.78, _char(byte), ha="center", va="center", fontsize=7,
                    family="monospace", color="#333333")
    for row in range(rows):
        ax.text(-0.15, -row - 0.5, f"{row * per_row:3d}", ha="right", va="center", fontsize=8,
                family="monospace", color="#666666")
    if highlight is not None:
        row, col = divmod(highlight, per_row)
        ax.add_patch(Rectangle((col, -row), 1, -1, fill=False, edgecolor="red", linewidth=3))
        if note:
            ax.annotate(note, xy=(col + 0.5, -row - 1), xytext=(per_row / 2, -rows - 0.9),
                        ha="center", fontsize=10, color="red",
                        arrowprops={"arrowstyle": "->", "color": "red"})
    ax.set_xlim(-1, per_row)
    ax.set_ylim(-rows - (1.4 if note else 0.1), 0.1)
    ax.axis("off")
    ax.legend(handles=[Patch(facecolor=colour_of[f], label=f) for f in fields],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or f"{len(data)} bytes; bold = byte ≥ 0x80; hatched = length/branch prefix",
                 fontsize=11, loc="left")
    fig.tight_layout()
    return fig


UTF8_CLASSES = [  # (first, last, meaning, colour)
    (0x00, 0x7F, "ASCII: a whole character", "#4c9f70"),
    (0x80, 0xBF, "continuation byte: only allowed *inside* a character", "#d1495b"),
    (0xC0, 0xC1, "never valid", "#555555"),
    (0xC2, 0xDF, "starts a 2-byte character", "#2e86ab"),
    (0xE0, 0xEF, "starts a 3-byte character", "#5b8fb9"),
    (0xF0, 0xF4, "starts a 4-byte character", "#8fb8de"),
    (0xF5, 0xFF, "never valid", "#555555"),
]


def utf8_lead_bytes(mark: int | None = None) -> Figure:
    """All 256 byte values by what UTF-8 lets them do at the start of a character."""
    fig = Figure(figsize=(12, 2.4))
    ax = fig.add_subplot()
    seen = set()
    for first, last, meaning, colour in UTF8_CLASSES:
        label = None if meaning in seen else meaning
        seen.add(meaning)
        ax.add_patch(Rectangle((first, 0), last - first + 1, 1, facecolor=colour, label=label))
    if mark is not None:
        ax.annotate(f"0x{mark:02x}", xy=(mark + 0.5, 1), xytext=(mark + 0.5, 1.6), ha="center",
                    color="red", weight="bold", arrowprops={"arrowstyle": "->", "color": "red"})
    ax.set_xlim(0, 256)
    ax.set_ylim(0, 2)
    ax.set_yticks([])
    ax.set_xticks(range(0, 257, 32), [f"0x{v:02x}" for v in range(0, 257, 32)])
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title("What each byte value may do at the start of a UTF-8 character", loc="left")
    fig.tight_layout()
    return fig


def stored_bytes(stored: pd.DataFrame) -> Figure:
    """Bytes Redis stores per field, one bar per encoding; hatched with ✗: lossy round trip.

    `stored` is `lessons.encodings.stored(...)`: columns feature, encoding, stored_bytes,
    lossless (notebook 02).
    """
    features = list(dict.fromkeys(stored["feature"]))
    labels = list(dict.fromkeys(stored["encoding"]))
    width = 0.8 / len(labels)
    fig = Figure(figsize=(12, 4.4))
    ax = fig.add_subplot()
    colours = colormaps["tab10"]
    for index, label in enumerate(labels):
        rows = stored[stored["encoding"] == label].set_index("feature").loc[features]
        xs = [i + (index - (len(labels) - 1) / 2) * width for i in range(len(features))]
        lost = int((~rows["lossless"]).sum())
        bars = ax.bar(xs, rows["stored_bytes"], width, color=colours(index),
                      label=f"{label}: {rows['stored_bytes'].sum()} bytes, {lost} lossy",
                      hatch=["//" if not ok else "" for ok in rows["lossless"]],
                      edgecolor="white")
        ax.bar_label(bars, labels=["" if ok else "✗" for ok in rows["lossless"]],
                     fontsize=8, color="#c0392b")
    ax.set_xticks(range(len(features)), features, rotation=30, ha="right", fontsize=9)
    ax.set_ylabel("bytes stored (HSTRLEN)")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.set_title("What each encoding stores per field; hatched ✗: reads back a different "
                 "value or type", loc="left")
    fig.tight_layout()
    return fig


def compat_matrix(verdicts: pd.DataFrame, *, modes: tuple[str, ...] = ("BACKWARD", "FORWARD",
                                                                         "FULL")) -> Figure:
    """One grid per mode: may `new` (column) replace `old` (row)?

    `verdicts` has columns old, new, mode, decodes (labkit, by decoding) and
    registry. Green: both say yes; red: both say no; orange: they disagree.
    """
    names = list(dict.fromkeys(verdicts["old"]))
    short = [name.removeprefix("transactions.") for name in names]
    fig = Figure(figsize=(6 * len(modes), 6.2))
    for index, mode in enumerate(modes):
        ax = fig.add_subplot(1, len(modes), index + 1)
        rows = verdicts[verdicts["mode"] == mode].set_index(["old", "new"])
        for i, old in enumerate(names):
            for j, new in enumerate(names):
                if old == new:
                    colour, label = "#eeeeee", ""
                else:
                    decodes, registry = rows.loc[(old, new), ["decodes", "registry"]]
                    colour = ("#f0a030" if decodes != registry else
                              "#6abf69" if decodes else "#e06666")
                    label = f"{'✓' if decodes else '✗'} {'✓' if registry else '✗'}"
                ax.add_patch(Rectangle((j, -i), 1, -1, facecolor=colour, edgecolor="white"))
                ax.text(j + 0.5, -i - 0.5, label, ha="center", va="center", fontsize=9)
        ax.set_xlim(0, len(names))
        ax.set_ylim(-len(names), 0)
        ax.set_xticks([j + 0.5 for j in range(len(names))], short, rotation=60, ha="right",
                      fontsize=8)
        ax.set_yticks([-i - 0.5 for i in range(len(names))], short if index == 0 else [],
                      fontsize=8)
        ax.set_title(mode)
        ax.set_xlabel("new schema")
        if index == 0:
            ax.set_ylabel("old schema (registered first)")
    fig.suptitle("May `new` replace `old`?  Each cell: decoding verdict, registry verdict",
                 x=0.01, ha="left")
    fig.tight_layout()
    return fig


def card_features(log: list[dict], cards: list[str], *,
                  features: tuple[str, ...] = ("amount_sum_5m", "txn_count_5m", "amount_zscore",
                                               "unique_countries_1h")) -> Figure:
    """Selected features of a few cards over event time (feature_ts); red dots: fraud events."""
    fig = Figure(figsize=(12, 2.3 * len(features)))
    axes = fig.subplots(len(features), 1, sharex=True)
    for card in cards:
        rows = [r for r in log if r["card_id"] == card]
        hours = [(r["feature_ts"] - START_MS) / 3_600_000 for r in rows]
        for ax, name in zip(axes, features, strict=True):
            values = [float(r[name]) for r in rows]
            ax.plot(hours, values, drawstyle="steps-post", label=card, linewidth=1.2)
            fraud = [(h, v) for h, v, r in zip(hours, values, rows, strict=True) if r["is_fraud"]]
            if fraud:
                ax.scatter(*zip(*fraud, strict=True), color="red", s=14, zorder=3)
            ax.set_ylabel(name, fontsize=9)
    axes[0].legend(loc="upper left", fontsize=8, ncols=len(cards))
    axes[-1].set_xlabel("hours since the stream's start (event time)")
    axes[0].set_title("Features over time; red dots: events labelled fraud", loc="left")
    fig.tight_layout()
    return fig


def throughput(results: pd.DataFrame, claims: dict[str, float]) -> Figure:
    """Events/s per configuration: a bar at the median of its runs, a dot for each run,
    beside the claimed rates (dashed lines).

    `results` has columns label, engine and events_per_s, one row per run; rows
    with the same label are repetitions of one configuration. The ceiling is grey.
    """
    fig = Figure(figsize=(11, 4.2))
    ax = fig.add_subplot()
    colours = {"ceiling": "#9e9e9e", "passthrough": "#c7c7c7", "simple": "#4c72b0",
               "flink": "#dd8452", "flink-jvm": "#c44e52", "flink-sql": "#55a868"}
    runs = results.groupby("label", sort=False)
    medians = runs["events_per_s"].median()
    engines = runs["engine"].first()
    bars = ax.barh(medians.index, medians.values, alpha=0.6,
                   color=[colours.get(engine, "#8172b3") for engine in engines])
    for row, (_label, rates) in enumerate(runs["events_per_s"]):
        ax.plot(rates, [row] * len(rates), "k|", markersize=12)
    ax.bar_label(bars, labels=[f"median {value:,.0f}/s" for value in medians.values],
                 padding=4, fontsize=9)
    for engine, claim in claims.items():
        ax.axvline(claim, color=colours[engine], linestyle="--", linewidth=1)
        ax.text(claim, len(medians) - 0.4, f" claimed: {engine} {claim:,.0f}/s",
                color=colours[engine], fontsize=8, va="bottom")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("events per second (log scale); | = one run")
    ax.set_title("Throughput on this machine, start-up included for Flink", loc="left")
    fig.tight_layout()
    return fig


def stage_breakdown(stages_s: dict[str, float], events: int, *, title: str = "") -> Figure:
    """Where the time of one run goes: microseconds per event, stacked stage by stage."""
    fig = Figure(figsize=(11, 2.2))
    ax = fig.add_subplot()
    left = 0.0
    colours = colormaps["tab10"]
    for index, (stage, seconds) in enumerate(stages_s.items()):
        micros = seconds / events * 1e6
        ax.barh([0], [micros], left=left, color=colours(index), edgecolor="white")
        if micros > 2:
            ax.text(left + micros / 2, 0, f"{stage}\n{micros:.0f} µs", ha="center",
                    va="center", fontsize=9, color="white")
        left += micros
    ax.set_yticks([])
    ax.set_xlabel(f"microseconds per event (total {left:.0f} µs = {1e6 / left:,.0f} events/s)")
    ax.set_title(title or "Per-event cost of each stage", loc="left")
    fig.tight_layout()
    return fig


def latency_cdf(series: dict[str, list[float]], targets_ms: dict[str, float]) -> Figure:
    """Cumulative distribution of latencies (one line per series) with target lines."""
    fig = Figure(figsize=(11, 4))
    ax = fig.add_subplot()
    for name, values in series.items():
        ordered = sorted(values)
        share = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.plot(ordered, share, label=f"{name} (n={len(ordered):,})")
    for name, target in targets_ms.items():
        ax.axvline(target, color="black", linestyle=":", linewidth=1)
        ax.text(target, 0.02, f" {name}", rotation=90, fontsize=8, va="bottom")
    ax.axhline(0.99, color="grey", linewidth=0.6)
    ax.text(ax.get_xlim()[1], 0.99, "p99 ", ha="right", va="bottom", fontsize=8, color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("share of messages at or below")
    ax.legend(loc="center right")
    ax.set_title("Latency at a steady offered load", loc="left")
    fig.tight_layout()
    return fig


def scaling(results: pd.DataFrame, *, x: str, title: str) -> Figure:
    """Events/s against `x` (a column: events, parallelism, workers), one colour per
    engine: the whole run (solid), and the steady state where `results` has a
    `steady_per_s` column with a value (dashed: start-up left out)."""
    fig = Figure(figsize=(11, 3.8))
    ax = fig.add_subplot()
    colours = colormaps["tab10"]
    for index, (engine, rows) in enumerate(results.groupby("engine", sort=False)):
        rows = rows.sort_values(x)
        ax.plot(rows[x], rows["events_per_s"], marker="o", color=colours(index),
                label=f"{engine}, whole run")
        if "steady_per_s" in rows and rows["steady_per_s"].notna().all():
            ax.plot(rows[x], rows["steady_per_s"], marker="s", linestyle="--",
                    color=colours(index), label=f"{engine}, steady state")
    if x == "events":
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel("events per second (log)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


def latency_breakdown(tails: dict[str, dict[str, float]], *, title: str = "") -> Figure:
    """Where the slowest messages' time went: one stacked bar per run, milliseconds per
    stage (`Latencies.breakdown()["tail"]`: waiting before the engine, then its stages)."""
    fig = Figure(figsize=(11, 0.6 + 0.5 * len(tails)))
    ax = fig.add_subplot()
    colours = colormaps["tab10"]
    stages = list(dict.fromkeys(stage for tail in tails.values() for stage in tail))
    for row, tail in enumerate(tails.values()):
        left = 0.0
        for index, stage in enumerate(stages):
            ms = tail.get(stage, 0.0)
            ax.barh([row], [ms], left=left, color=colours(index), edgecolor="white",
                    label=stage if row == 0 else None)
            left += ms
    ax.set_yticks(range(len(tails)), list(tails))
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds, mean over the messages at or above the processing p99")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax.set_title(title or "Where the slowest 1 % of messages spent their time", loc="left")
    fig.tight_layout()
    return fig


def timeline(frame: pd.DataFrame, marks: list[tuple[float, str]], *, total: int,
             title: str) -> Figure:
    """A run's progress over wall time: messages committed and feature records written,
    with the moments something was broken or repaired."""
    fig = Figure(figsize=(11, 3.6))
    ax = fig.add_subplot()
    ax.plot(frame["seconds"], frame["committed"], label="input messages committed",
            drawstyle="steps-post")
    ax.plot(frame["seconds"], frame["feature_records"], label="feature records written",
            drawstyle="steps-post", linestyle="--")
    ax.axhline(total, color="grey", linewidth=0.6)
    for at, label in marks:
        ax.axvline(at, color="red", linewidth=1)
        ax.text(at, total * 0.5, f" {label}", color="red", rotation=90, fontsize=8,
                va="center")
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("messages")
    ax.legend(loc="upper left")
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


def differing_features(counts: dict[str, int], *, total: int, title: str = "") -> Figure:
    """How many of `total` records differ, feature by feature, between two runs or copies.

    Introduced in notebook 04 (two copies of the feature logic, one drifted).
    A zero gets a bar label too: a drift the data never hit is still there.
    """
    names = list(counts)[::-1]  # the first feature on top
    fig = Figure(figsize=(11, 0.45 * len(names) + 1.2))
    ax = fig.add_subplot()
    bars = ax.barh(names, [counts[name] for name in names],
                   color=["#d1495b" if counts[name] else "#4c9f70" for name in names])
    ax.bar_label(bars, labels=[f" {counts[name]:,}" for name in names], fontsize=9)
    ax.set_xlim(0, total * 1.08)
    ax.set_xlabel(f"records that differ (of {total:,})")
    ax.set_title(title or "Records that differ, per feature", loc="left")
    fig.tight_layout()
    return fig


def where_inputs_went(outcomes: dict[str, dict[str, int]], *, total: int,
                      title: str = "") -> Figure:
    """Each engine's input messages, split by what became of them (one stacked bar each).

    `outcomes` maps an engine to {outcome: messages}, e.g. feature records, dead
    letters, dropped behind the watermark; a bar that falls short of `total`
    shows messages nobody accounted for.
    """
    engines = list(outcomes)[::-1]  # the first engine on top
    kinds = list(dict.fromkeys(kind for counts in outcomes.values() for kind in counts))
    colours = dict(zip(kinds, ["#4c9f70", "#edae49", "#d1495b", "#8172b3"], strict=False))
    fig = Figure(figsize=(11, 0.6 * len(engines) + 1.4))
    ax = fig.add_subplot()
    left = [0] * len(engines)
    for kind in kinds:
        counts = [outcomes[engine].get(kind, 0) for engine in engines]
        bars = ax.barh(engines, counts, left=left, label=kind, color=colours.get(kind))
        ax.bar_label(bars, labels=[f"{count:,}" if count else "" for count in counts],
                     label_type="center", fontsize=9)
        left = [start + count for start, count in zip(left, counts, strict=True)]
    ax.axvline(total, color="black", linestyle=":", linewidth=1)
    ax.set_xlim(0, total * 1.05)
    ax.set_xlabel(f"input messages (of {total:,})")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(kinds), frameon=False)
    ax.set_title(title or "Where every input message went", loc="left", pad=28)
    fig.tight_layout()
    return fig


def group_timeline(samples: list[tuple[float, dict[str, list[int]], dict[int, float]]],
                   marks: list[tuple[float, str]], *, title: str = "") -> Figure:
    """A consumer group over wall time: which member owned each partition (top), and each
    partition's lag (bottom), with the moments something happened (`groups.Watch`)."""
    partitions = sorted({p for _, _, lags in samples for p in lags})
    members = sorted({member for _, owners, _ in samples for member in owners})
    colours = dict(zip(members, ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"],
                       strict=False))
    fig = Figure(figsize=(11, 5.6))
    owners_ax, lag_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.4])
    for (start, owners, _), (end, _, _) in pairwise(samples):
        for member, owned in owners.items():
            for partition in owned:
                owners_ax.broken_barh([(start, end - start)], (partition - 0.4, 0.8),
                                      color=colours[member])
    owners_ax.set_yticks(partitions, [f"partition {p}" for p in partitions])
    owners_ax.set_ylim(-0.6, len(partitions) - 0.4)
    owners_ax.legend(handles=[Patch(color=colours[m], label=m) for m in members],
                     loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(members),
                     frameon=False, title="owned by (white: nobody)")
    for partition in partitions:
        lag_ax.plot([t for t, _, _ in samples], [lags.get(partition) for _, _, lags in samples],
                    label=f"partition {partition}", drawstyle="steps-post")
    lag_ax.set_ylabel("lag (messages)")
    lag_ax.set_xlabel("seconds since the watch started")
    lag_ax.legend(loc="upper left", fontsize=8)
    for ax in (owners_ax, lag_ax):
        for at, _label in marks:
            ax.axvline(at, color="red", linewidth=1)
    for at, label in marks:
        lag_ax.text(at, lag_ax.get_ylim()[1] * 0.95, f" {label}", color="red", rotation=90,
                    fontsize=8, va="top")
    owners_ax.set_title(title or "Partitions per member, and lag", loc="left", pad=42)
    fig.tight_layout()
    return fig


def transaction_log(kinds: list[str], *, first_offset: int, title: str = "") -> Figure:
    """One partition of a transactional topic, offset by offset: records of committed
    transactions, of aborted ones, and the markers that end each transaction.

    `kinds[i]` is what sits at `first_offset + i`: "committed", "aborted" or "marker".
    """
    colours = {"committed": "#4c9f70", "aborted": "#d1495b", "marker": "black"}
    fig = Figure(figsize=(11, 1.9))
    ax = fig.add_subplot()
    start = 0
    for index in range(1, len(kinds) + 1):  # one span per run of equal kinds
        if index == len(kinds) or kinds[index] != kinds[start]:
            width = max(index - start, len(kinds) / 400)  # a marker stays visible
            ax.broken_barh([(first_offset + start, width)], (0, 1), color=colours[kinds[start]])
            start = index
    ax.set_yticks([])
    ax.set_xlim(first_offset, first_offset + len(kinds))
    ax.set_xlabel("offset")
    ax.legend(handles=[Patch(color=c, label=k) for k, c in colours.items()],
              loc="lower left", bbox_to_anchor=(0, 1.02), ncol=3, frameon=False)
    ax.set_title(title or "A transactional partition, offset by offset", loc="left", pad=24)
    fig.tight_layout()
    return fig


def card_runs(logs: dict[str, list[dict]], card: str, *,
              features: tuple[str, ...] = ("txn_count_1h", "amount_sum_1h")) -> Figure:
    """One card's features in several runs' feature logs, record after record.

    Lines that should lie on top of each other and do not show where a run went wrong.
    """
    fig = Figure(figsize=(11, 2.4 * len(features)))
    axes = fig.subplots(len(features), 1, sharex=True)
    for (name, log), style in zip(logs.items(), ("-", "--", ":"), strict=False):
        rows = [record for record in log if record["card_id"] == card]
        for ax, feature in zip(axes, features, strict=True):
            ax.plot(range(len(rows)), [float(r[feature]) for r in rows], linestyle=style,
                    drawstyle="steps-post", label=f"{name} ({len(rows)} records)")
            ax.set_ylabel(feature, fontsize=9)
    axes[0].legend(loc="upper left", fontsize=8)
    axes[0].set_title(f"{card}: its feature records in log order", loc="left")
    axes[-1].set_xlabel("the card's n-th feature record")
    fig.tight_layout()
    return fig


def commit_order() -> Figure:
    """The simple engine's batch stages, and what a crash at each point costs on restart."""
    stages = ["consume", "decode", "features", "produce", "redis", "commit"]
    fig = Figure(figsize=(11, 2.6))
    ax = fig.add_subplot()
    for i, stage in enumerate(stages):
        colour = "#6abf69" if stage == "commit" else "#4c72b0"
        ax.add_patch(Rectangle((i * 1.8, 1.0), 1.5, 0.8, facecolor=colour, alpha=0.85))
        ax.text(i * 1.8 + 0.75, 1.4, stage, ha="center", va="center", color="white")
        if i:
            ax.annotate("", (i * 1.8, 1.4), (i * 1.8 - 0.3, 1.4),
                        arrowprops={"arrowstyle": "->"})
    ax.annotate("", (0, 0.55), (5 * 1.8, 0.55),
                arrowprops={"arrowstyle": "<->", "color": "#e06666"})
    ax.text(4.5, 0.2, "crash anywhere before the commit: the batch is read again after the "
            "restart — outputs repeat, none is lost (at-least-once)", ha="center",
            fontsize=9, color="#e06666")
    ax.text(5 * 1.8 + 0.75, 2.05, "offsets move only\nafter every ack", ha="center",
            fontsize=8)
    ax.set_xlim(-0.2, 6 * 1.8)
    ax.set_ylim(0, 2.5)
    ax.axis("off")
    fig.tight_layout()
    return fig


FATE_STYLE = {ON_TIME: ("o", "#4c72b0"), LATE_KEPT: ("s", "#f0a030"), DROPPED: ("X", "#d1495b")}


def event_time(run: EventTimeRun, *, title: str = "") -> Figure:
    """Event time against processing time for one run of notebook 08's job: every event
    (by its fate), the watermark it met, and each window firing with its count.

    A firing is drawn at the window's end, at the processing time the window operator
    fired it: that operator runs downstream of the events' tracer, a little later.

    Minutes of event time are counted from the first window's start, seconds of
    processing time from the first event seen.
    """
    options, trace = run.options, run.trace
    origin_ms = min(s.event_ms for s in trace) // options.window_ms * options.window_ms
    first_ms = min(s.seen_ms for s in trace)
    fig = Figure(figsize=(12, 4.4))
    ax = fig.add_subplot()
    fates = [fate(s.event_ms, s.watermark_ms, window_ms=options.window_ms,
                  allowed_lateness_ms=options.allowed_lateness_ms) for s in trace]
    for name, (marker, colour) in FATE_STYLE.items():
        shown = [s for s, f in zip(trace, fates, strict=True) if f == name]
        ax.scatter([(s.seen_ms - first_ms) / 1000 for s in shown],
                   [(s.event_ms - origin_ms) / 60_000 for s in shown], marker=marker, s=14,
                   color=colour, label=f"event, {name} ({len(shown):,})", zorder=3)
    marked = [s for s in trace if s.watermark_ms is not None]
    ax.plot([(s.seen_ms - first_ms) / 1000 for s in marked],
            [(s.watermark_ms - origin_ms) / 60_000 for s in marked], drawstyle="steps-post",
            color="black", linewidth=1.2,
            label="watermark each event met" if marked else "no event met a watermark")
    for fired in run.windows:
        at = (fired.fired_ms - first_ms) / 1000
        ax.plot([at], [(fired.end_ms - origin_ms) / 60_000], marker="v", color="#4c9f70",
                markersize=8, zorder=4)
        ax.annotate(f"{fired.count}", (at, (fired.end_ms - origin_ms) / 60_000),
                    textcoords="offset points", xytext=(4, 4), fontsize=8, color="#4c9f70")
    ax.plot([], [], marker="v", linestyle="", color="#4c9f70",
            label=f"window fired, with its count ({len(run.windows)})")
    ax.set_xlabel("processing time: seconds since the first event was seen")
    ax.set_ylabel(f"event time: minutes (windows of {options.window_ms / 60_000:g} min)")
    ax.yaxis.set_major_locator(MultipleLocator(options.window_ms / 60_000))
    ax.grid(axis="y", linewidth=0.4)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(title or "Event time, processing time and the watermark", loc="left")
    fig.tight_layout()
    return fig


def replica_logs(runs: list, *, title: str = "") -> Figure:
    """What each replica held when the leader died, per `replication.leader_kill` run:
    the old leader's log, the followers' (frozen at `before`), the writes the producer
    was told were written, and what a consumer could read after the failover."""
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, len(runs), sharey=True, squeeze=False)[0]
    for ax, run in zip(axes, runs, strict=True):
        bars = {"old leader's log\nat the kill": run.sent,
                "each follower's\nlog at the kill": run.followers_had,
                "acknowledged\nby the old leader": run.acknowledged_by_old_leader,
                "readable after\nthe failover": run.readable}
        colours = ["#4c72b0", "#8c8c8c", "#dd8452", "#55a868"]
        ax.bar(list(bars), list(bars.values()), color=colours)
        for x, value in enumerate(bars.values()):
            ax.text(x, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
        ax.set_title(f"acks={run.acks}: {run.lost:,} acknowledged writes lost", fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].set_ylabel("records")
    fig.suptitle(title or "The same leader kill, two settings of acks")
    fig.tight_layout()
    return fig


def failovers(stalls: pd.DataFrame) -> Figure:
    """Each failover's two times (`replication.write_stall` rows: fault, elected_s,
    stalled_s) as dots per fault, so a reader sees the spread and not only a mean."""
    fig = Figure(figsize=(7, 3.0))
    ax = fig.subplots()
    faults = list(dict.fromkeys(stalls["fault"]))
    for offset, (column, label) in zip((-0.12, 0.12), (
            ("elected_s", "until a new leader was named"),
            ("stalled_s", "longest wait for an acknowledgement")), strict=True):
        ys = [faults.index(fault) + offset for fault in stalls["fault"]]
        ax.scatter(stalls[column], ys, label=label, s=30)
    ax.set_yticks(range(len(faults)), faults)
    ax.set_xlabel("seconds after the fault hit the leader")
    ax.set_xlim(left=0)
    ax.set_ylim(-0.6, len(faults) - 0.4)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2)
    fig.tight_layout()
    return fig
