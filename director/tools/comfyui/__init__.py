"""ComfyUI: the client, the graph's roles and the built-in workflows."""
