"""Backgrounds of storyboard frames: a sky and ground for each environment kind, the time of day,
and the weather, drawn with Pillow shapes and numpy gradients (no per-pixel Python loops).

Every random choice comes from the canvas's seeded generator, so a frame is a pure function of
its request while rerolls move clouds, buildings, trees and stars around.

The package holds the shared canvas and gradients (``canvas``), the sky (``sky``), the
environments seen from the side (``side_views``) and from straight above (``top_views``), and
the weather (``weather``).
"""

from director.tools.image.scenery.canvas import Canvas, backdrop, blend
from director.tools.image.scenery.side_views import SIDE_VIEWS, draw_environment, ridge
from director.tools.image.scenery.sky import SUN, draw_sky, draw_stars, sphere
from director.tools.image.scenery.top_views import TOP_VIEWS, draw_from_above
from director.tools.image.scenery.weather import draw_haze, draw_weather

__all__ = [
    "SIDE_VIEWS",
    "SUN",
    "TOP_VIEWS",
    "Canvas",
    "backdrop",
    "blend",
    "draw_environment",
    "draw_from_above",
    "draw_haze",
    "draw_sky",
    "draw_stars",
    "draw_weather",
    "ridge",
    "sphere",
]
