"""Wiring: develop -> approve beats -> bible -> shot list -> per beat (per shot: keyframe ->
critique -> decide; then approve the beat's keyframes -> animate its clips) -> assemble ->
document. Routes are the nodes' typed Commands."""

from __future__ import annotations

from langgraph.graph import START, StateGraph

from director.agent import approvals, clips, finishing, keyframes, planning
from director.agent.context import RunContext
from director.agent.state import FilmState

NODES = {
    "develop": planning.develop,
    "approve_beats": approvals.approve_beats,
    "bible": planning.bible,
    "shot_list": planning.shot_list,
    "keyframe": keyframes.keyframe,
    "critique": keyframes.critique,
    "decide": keyframes.decide,
    "revise": approvals.revise,
    "approve_shots": approvals.approve_shots,
    "animate": clips.animate,
    "assemble": finishing.assemble,
    "document": finishing.document,
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
