"""The LangGraph graph that decides: state, configuration, nodes, policy and wiring."""
