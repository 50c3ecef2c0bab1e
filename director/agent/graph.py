"""Wiring: develop -> approve beats -> bible -> shot list -> per shot (keyframe -> critique ->
decide -> animate) -> assemble -> document. Routes are the nodes' typed Commands."""

from __future__ import annotations

from langgraph.graph import START, StateGraph

from director.agent import nodes
from director.agent.context import RunContext
from director.agent.state import FilmState

NODES = (
    "develop",
    "approve_beats",
    "bible",
    "shot_list",
    "keyframe",
    "critique",
    "decide",
    "animate",
    "assemble",
    "document",
)


def build_graph(checkpointer=None):
    graph = StateGraph(FilmState, context_schema=RunContext)
    for name in NODES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "develop")
    return graph.compile(checkpointer=checkpointer)


def recursion_limit(runtime_s: float, max_attempts: int) -> int:
    """Enough graph steps for the longest plan: every shot 3 s, every attempt used."""
    shots = int(runtime_s // 3) + 1
    return 50 + shots * (3 * max_attempts + 2)
