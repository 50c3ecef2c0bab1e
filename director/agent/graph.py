"""Wiring: develop -> approve beats -> bible -> shot list -> per beat (per shot: keyframe ->
critique -> decide; then approve the beat's keyframes -> animate its clips) -> assemble ->
document. Routes are the nodes' typed Commands."""

from __future__ import annotations

from langgraph.graph import START, StateGraph

from director.agent import approvals, nodes
from director.agent.context import RunContext
from director.agent.state import FilmState

NODES = {
    "develop": nodes.develop,
    "approve_beats": approvals.approve_beats,
    "bible": nodes.bible,
    "shot_list": nodes.shot_list,
    "keyframe": nodes.keyframe,
    "critique": nodes.critique,
    "decide": nodes.decide,
    "revise": approvals.revise,
    "approve_shots": approvals.approve_shots,
    "animate": nodes.animate,
    "assemble": nodes.assemble,
    "document": nodes.document,
}

# Where `director resume --from STAGE` re-enters the graph.
STAGES = ("beats", "shots", "keyframes", "clips", "assembly")


def build_graph(checkpointer=None):
    graph = StateGraph(FilmState, context_schema=RunContext)
    for name, node in NODES.items():
        graph.add_node(name, node)
    graph.add_edge(START, "develop")
    return graph.compile(checkpointer=checkpointer)


def recursion_limit(runtime_s: float, max_attempts: int) -> int:
    """Enough graph steps for the longest plan: every shot 3 s, every attempt used."""
    shots = int(runtime_s // 3) + 1
    return 50 + shots * (3 * max_attempts + 4)
