"""A run's graph of steps as an inline SVG: the tasks and their dependencies from the run's
compiled pipeline (its IR's root DAG, so steps not started yet or never run are drawn too),
joined with the edges its artifacts show (a task that took an output of another). When the
package no longer matches what ran (recompiled since), the artifacts alone draw it.

Laid out top to bottom in layers (a task one layer below its deepest upstream task)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.ui import fmt

NODE_W, NODE_H = 200, 58
GAP_X, GAP_Y = 36, 44
MARGIN = 12


@dataclass
class Node:
    name: str
    importer: bool = False  # a dsl.importer: brings an existing artifact in, runs no container
    execution: dict[str, Any] | None = None
    x: float = 0.0
    y: float = 0.0


@dataclass
class Graph:
    nodes: dict[str, Node]
    edges: set[tuple[str, str]] = field(default_factory=set)  # (upstream, downstream)
    from_spec: bool = False


def spec_of(package: str | None) -> tuple[dict[str, bool], set[tuple[str, str]]] | None:
    """({task: is an importer}, edges) of a compiled package's root DAG; None when the
    package is gone or unreadable."""
    import yaml

    from mlops.core.pipeline_package import read_package

    if not package or not Path(package).is_file():
        return None
    try:
        ir = yaml.safe_load(read_package(Path(package)))
        tasks = ir["root"]["dag"]["tasks"]
    except Exception:  # any broken package: the artifacts still draw the graph
        return None
    executors = (ir.get("deploymentSpec") or {}).get("executors") or {}
    components = ir.get("components") or {}
    kinds, edges = {}, set()
    for name, task in tasks.items():
        component = components.get((task.get("componentRef") or {}).get("name"), {})
        kinds[name] = "importer" in executors.get(component.get("executorLabel"), {})
        edges |= {(up, name) for up in task.get("dependentTasks") or []}
    return kinds, edges


def artifact_edges(tasks: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(producer, consumer) for every artifact one task of the run put out and another took."""
    producer = {a["uri"]: t["task"] for t in tasks for a in t["outputs"]}
    return {
        (producer[a["uri"]], t["task"])
        for t in tasks
        for a in t["inputs"]
        if a["uri"] in producer and producer[a["uri"]] != t["task"]
    }


def build(run: dict[str, Any]) -> Graph:
    tasks = run["tasks"]
    latest = {t["task"]: t for t in tasks}  # a task recorded twice: its last execution
    edges = artifact_edges(tasks)
    spec = spec_of(run.get("package"))
    if spec is not None and set(latest) <= set(spec[0]):
        kinds, spec_edges = spec
        nodes = {n: Node(n, importer, latest.get(n)) for n, importer in kinds.items()}
        return Graph(nodes, edges | spec_edges, from_spec=True)
    return Graph({n: Node(n, False, x) for n, x in latest.items()}, edges)


DUMMY_W = 16  # an edge crossing a layer passes through a narrow slot there
DUMMY = "\0"  # starts a dummy slot's name: no task name has it


def _upstream(graph: Graph) -> dict[str, set[str]]:
    upstream: dict[str, set[str]] = {n: set() for n in graph.nodes}
    for up, down in graph.edges:
        if up in upstream and down in upstream and up != down:
            upstream[down].add(up)
    return upstream


def depths(graph: Graph) -> dict[str, int]:
    """Each task's layer: one below its deepest upstream task (a cycle is cut)."""
    upstream = _upstream(graph)
    depth: dict[str, int] = {}

    def depth_of(name: str, path: frozenset) -> int:
        if name not in depth:
            ups = [u for u in upstream[name] if u not in path]
            depth[name] = 1 + max((depth_of(u, path | {name}) for u in ups), default=-1)
        return depth[name]

    for name in sorted(graph.nodes):
        depth_of(name, frozenset({name}))
    return depth


def routes(graph: Graph, depth: dict[str, int]) -> dict[tuple[str, str], list[str]]:
    """Each drawable edge as the slots it passes: (up, down) -> [up, dummies..., down]. An
    edge spanning several layers gets a dummy slot in each layer between, so the ordering
    keeps it clear of the boxes there."""
    found = {}
    for up, down in sorted(graph.edges):
        if up not in depth or down not in depth or depth[down] <= depth[up]:
            continue
        between = [f"{DUMMY}{up}>{down}#{d}" for d in range(depth[up] + 1, depth[down])]
        found[(up, down)] = [up, *between, down]
    return found


def layers(graph: Graph, depth: dict[str, int], paths) -> list[list[str]]:
    """Slots (tasks and dummies) per layer, ordered to keep edges short and uncrossed: the
    mean position of their neighbours, swept down, up and down again."""
    level = dict(depth)
    above: dict[str, set[str]] = {n: set() for n in graph.nodes}
    below: dict[str, set[str]] = {n: set() for n in graph.nodes}
    for path in paths.values():
        for i, slot in enumerate(path[1:-1], start=1):
            level[slot] = depth[path[0]] + i
            above.setdefault(slot, set())
            below.setdefault(slot, set())
        for a, b in zip(path, path[1:], strict=False):
            below[a].add(b)
            above[b].add(a)
    rows: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for slot in sorted(level, key=lambda s: (s.startswith(DUMMY), s)):
        rows[level[slot]].append(slot)
    for neighbours, order in ((above, rows), (below, rows[::-1]), (above, rows)):
        position: dict[str, float] = {}
        for row in order:
            current = {slot: i for i, slot in enumerate(row)}

            def key(slot: str, neighbours=neighbours, position=position, current=current):
                near = [position[n] for n in neighbours[slot] if n in position]
                return (sum(near) / len(near) if near else current[slot], slot)

            row.sort(key=key)
            position.update({slot: i for i, slot in enumerate(row)})
    return rows


def _width(slot: str) -> float:
    return DUMMY_W if slot.startswith(DUMMY) else NODE_W


def place(graph: Graph) -> tuple[float, float, dict[str, tuple[float, float]], dict]:
    """Sets each node's x, y (its top-left corner); returns the drawing's width and height,
    each dummy slot's centre and the edges' routes."""
    depth = depths(graph)
    paths = routes(graph, depth)
    rows = layers(graph, depth, paths)

    def row_width(row: list[str]) -> float:
        return sum(_width(s) for s in row) + max(len(row) - 1, 0) * GAP_X

    width = 2 * MARGIN + max((row_width(r) for r in rows), default=NODE_W)
    dummies: dict[str, tuple[float, float]] = {}
    for level, row in enumerate(rows):
        x = (width - row_width(row)) / 2
        y = MARGIN + level * (NODE_H + GAP_Y)
        for slot in row:
            if slot in graph.nodes:
                graph.nodes[slot].x, graph.nodes[slot].y = x, y
            else:
                dummies[slot] = (x + DUMMY_W / 2, y)
            x += _width(slot) + GAP_X
    height = 2 * MARGIN + len(rows) * NODE_H + max(len(rows) - 1, 0) * GAP_Y
    return width, height, dummies, paths


def _ports(graph: Graph, paths: dict, dummies: dict) -> dict[tuple[str, str], tuple[float, float]]:
    """Where each edge leaves its upstream box and enters its downstream one: spread along
    the box's edge in the order of the other ends, so arrows do not pile up on one point."""

    def x_of(slot: str) -> float:
        if slot in dummies:
            return dummies[slot][0]
        return graph.nodes[slot].x + NODE_W / 2

    out: dict[str, list] = {}
    into: dict[str, list] = {}
    for key, path in paths.items():
        out.setdefault(path[0], []).append((x_of(path[1]), key))
        into.setdefault(path[-1], []).append((x_of(path[-2]), key))
    found: dict[tuple[str, str], list[float]] = {key: [0.0, 0.0] for key in paths}
    for side, groups in ((0, out), (1, into)):
        for name, ends in groups.items():
            ends.sort()
            spread = min(18.0, (NODE_W - 40) / max(len(ends), 1))
            for i, (_, key) in enumerate(ends):
                found[key][side] = x_of(name) + (i - (len(ends) - 1) / 2) * spread
    return {key: (a, b) for key, (a, b) in found.items()}


def _edge_path(points: list[tuple[float, float]]) -> str:
    """A smooth path through the points: vertical tangents at each, as layered graphs draw."""
    (x, y), rest = points[0], points[1:]
    d = f"M{x:.0f},{y:.0f}"
    for nx, ny in rest:
        bend = (ny - y) / 2
        d += f" C{x:.0f},{y + bend:.0f} {nx:.0f},{ny - bend:.0f} {nx:.0f},{ny:.0f}"
        x, y = nx, ny
    return d


def state(node: Node, run_status: str) -> tuple[str, str]:
    """(CSS class, what the box says under the name)."""
    x = node.execution
    if x is None:
        if node.importer:
            return "importer", "imports an artifact"
        return ("pending", "waiting") if run_status == "RUNNING" else ("skipped", "not run")
    status = x["status"]
    if status == "RUNNING":
        return "running", f"running since {fmt.when(x['started_at'])[11:]}"
    took = fmt.took(x["started_at"], x["ended_at"])
    memory = x.get("peak_memory_bytes")
    if status == "SUCCESS" and x.get("cached_from") is not None:
        return "cached", f"cached · {took}"
    detail = f"{took} · {fmt.size(memory)}" if memory else took
    css = {"SUCCESS": "success", "CANCELLED": "cancelled"}.get(status, "failed")
    return css, detail if status == "SUCCESS" else f"{status.lower()} · {took}"


def svg(graph: Graph, run_status: str, link) -> str:
    """The graph as an <svg> element; `link(task)` gives a step's page (None: no link)."""
    width, height, dummies, paths = place(graph)
    ports = _ports(graph, paths, dummies)
    parts = [
        f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="the graph of the run\'s steps">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#7a869a"/></marker>'
        "</defs>",
    ]
    for key, path in paths.items():
        up, down = graph.nodes[path[0]], graph.nodes[path[-1]]
        start_x, end_x = ports[key]
        points = [(start_x, up.y + NODE_H)]
        for slot in path[1:-1]:  # through each dummy slot: in at its top, out at its bottom
            x, y = dummies[slot]
            points += [(x, y), (x, y + NODE_H)]
        points.append((end_x, down.y - 2))
        parts.append(f'<path class="edge" d="{_edge_path(points)}" marker-end="url(#arrow)"/>')
    for node in graph.nodes.values():
        css, detail = state(node, run_status)
        box = (
            f'<g class="node {css}" data-task="{html.escape(node.name)}">'
            f"<title>{html.escape(node.name)}: {html.escape(detail)}</title>"
            f'<rect x="{node.x:.0f}" y="{node.y:.0f}" width="{NODE_W}" height="{NODE_H}" '
            'rx="7"/>'
            f'<text class="name" x="{node.x + 14:.0f}" y="{node.y + 24:.0f}">'
            f"{html.escape(node.name)}</text>"
            f'<text class="detail" x="{node.x + 14:.0f}" y="{node.y + 44:.0f}">'
            f"{html.escape(detail)}</text></g>"
        )
        href = link(node.name) if node.execution is not None else None
        parts.append(f'<a href="{html.escape(href)}">{box}</a>' if href else box)
    parts.append("</svg>")
    return "".join(parts)
