"""The drawing of a case and its contacts: the case in the middle, its F1 contacts on a
ring around it, the F2s on an outer ring, each joined to the F1 it was reached through
(`via`) and placed in the order of those F1s, so that it lies near its own.

`layout(case, contacts)` only places things; `trace_person.html` draws them as SVG with
classes from `trace.css` (no inline style: the content security policy allows none). A
node's label is its rank in its table on the page (F1 ``1``, F2 ``1``), its title the
person and the time together, so that the drawing and the tables read together. At most
`MOST_F1` F1s and `MOST_F2` F2s are drawn, the longest overlaps first; the drawing says
how many it leaves out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SIZE = 640
CENTRE = SIZE / 2
F1_RING, F2_RING = 150.0, 270.0
MOST_F1, MOST_F2 = 24, 48


@dataclass(frozen=True)
class Node:
    x: float
    y: float
    r: float
    degree: str  # "case", "F1", "F2"
    label: str
    title: str


@dataclass(frozen=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    degree: str  # of the far end


@dataclass(frozen=True)
class Drawing:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    left_out: int = 0
    size: int = SIZE


def _radius(overlap: float, longest: float) -> float:
    return 5.0 + 9.0 * math.sqrt(max(overlap, 0.0) / longest) if longest > 0 else 6.0


def _at(ring: float, angle: float) -> tuple[float, float]:
    return round(CENTRE + ring * math.cos(angle), 1), round(CENTRE + ring * math.sin(angle), 1)


def layout(case_title: str, contacts: Sequence[Mapping[str, Any]], title_of) -> Drawing:
    """``contacts``: the trace's rows in rank order (``degree``, ``person_id``,
    ``overlap_seconds``, ``via``); ``title_of(row, rank)``: a node's hover text."""
    f1 = [c for c in contacts if c["degree"] == "F1"]
    f2 = [c for c in contacts if c["degree"] == "F2"]
    drawn_f1 = f1[:MOST_F1]
    longest = max((float(c["overlap_seconds"]) for c in drawn_f1), default=0.0)  # sizes within a degree
    drawing = Drawing(nodes=[Node(CENTRE, CENTRE, 16.0, "case", "", case_title)])
    angle_of: dict[str, float] = {}
    sector = 2 * math.pi / max(len(drawn_f1), 1)
    for rank, contact in enumerate(drawn_f1, start=1):
        angle = -math.pi / 2 + (rank - 1) * sector
        angle_of[contact["person_id"]] = angle
        x, y = _at(F1_RING, angle)
        drawing.edges.append(Edge(CENTRE, CENTRE, x, y, "F1"))
        drawing.nodes.append(Node(x, y, _radius(float(contact["overlap_seconds"]), longest), "F1", str(rank),
                                  title_of(contact, rank)))
    # F2s on the outer ring, evenly spaced, in the order of their F1s around the inner one
    # (so each lies near its F1 as far as room allows); those whose F1 is not drawn are left out.
    drawable = [(rank, c) for rank, c in enumerate(f2, start=1) if c["via"] in angle_of][:MOST_F2]
    drawable.sort(key=lambda item: (angle_of[item[1]["via"]], item[0]))
    step = 2 * math.pi / max(len(drawable), 1)
    first = angle_of[drawable[0][1]["via"]] - step * (len(drawable) // max(len(angle_of), 1)) / 2 if drawable else 0
    longest_f2 = max((float(c["overlap_seconds"]) for _, c in drawable), default=0.0)
    for at, (rank, contact) in enumerate(drawable):
        x, y = _at(F2_RING, first + at * step)
        vx, vy = _at(F1_RING, angle_of[contact["via"]])
        drawing.edges.append(Edge(vx, vy, x, y, "F2"))
        drawing.nodes.append(Node(x, y, _radius(float(contact["overlap_seconds"]), longest_f2), "F2", str(rank),
                                  title_of(contact, rank)))
    return Drawing(drawing.nodes, drawing.edges, len(f1) - len(drawn_f1) + len(f2) - len(drawable))
