"""Video backends: turn an accepted keyframe into a clip with the planned camera move."""
