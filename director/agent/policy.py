"""Seed policy: which seed each attempt of each shot uses."""

from __future__ import annotations


def shot_seed(base_seed: int, shot_index: int, attempt: int) -> int:
    """One block of seeds per shot, a new seed per attempt."""
    return (base_seed + shot_index * 1000 + attempt) % 2_147_483_647


def clip_seed(base_seed: int, shot_index: int, attempt: int) -> int:
    """Clips draw from the second half of the shot's block, apart from its keyframes' seeds."""
    return shot_seed(base_seed, shot_index, 500 + attempt - 1)
