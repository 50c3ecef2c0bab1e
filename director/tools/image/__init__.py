"""Image backends: produce keyframes from five-slot shot prompts."""
