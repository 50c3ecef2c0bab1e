"""Training a style LoRA from a film's accepted keyframes (or a folder of images).

``dataset`` gathers and captions the images, ``train`` runs the diffusers + peft training loop
with its checkpoints, ``save`` writes the weights in the layout ComfyUI and diffusers both read,
and ``document`` writes the training document beside them. torch, diffusers and peft are
imported inside functions, so importing this package costs nothing.
"""
