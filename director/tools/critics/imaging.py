"""Pixel helpers shared by the critics that need no model weights: brightness, downscaling,
CIELAB colour, and reading reference images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# ITU-R BT.601 weights: the luma most image tools report, so scores match what users measure.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# sRGB (D65) to CIE XYZ, and the D65 white point.
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float32,
)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)


def rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB. Deep greyscale (16-bit, 32-bit, float) is scaled to 0-255, not
    clipped (clipping turns a 16-bit photo white); transparency is laid on white."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _deep_grey(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return image.convert("RGB")


def _deep_grey(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    top = float(values.max(initial=0.0))
    if image.mode.startswith("I;16") or top > 255:
        full = 65535.0  # 16-bit samples, whatever mode Pillow opened them in
    else:
        full = 1.0 if image.mode == "F" and top <= 1.0 else 255.0
    grey = np.clip(values / full * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")


def pixels(image: Image.Image) -> np.ndarray:
    """An (H, W, 3) uint8 array of the image's RGB pixels."""
    return np.asarray(rgb(image), dtype=np.uint8)


def luma(rgb_pixels: np.ndarray) -> np.ndarray:
    """Brightness 0-255 of every pixel of an (..., 3) RGB array."""
    return rgb_pixels.astype(np.float32) @ LUMA_WEIGHTS


def shrink(image: Image.Image, width: int) -> Image.Image:
    """A copy at most ``width`` pixels wide (never enlarged: enlarging invents blur). Box
    averaging keeps edges as crisp as they were, so sharpness measured on the copy does not
    depend on the original's size."""
    image = rgb(image)
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.BOX)


def lab(rgb_pixels: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of an (..., 3) uint8 sRGB array, as float32 (..., 3): L in 0-100."""
    c = rgb_pixels.astype(np.float32) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def hex_pixels(colours: list[str]) -> np.ndarray:
    """An (N, 3) uint8 array from '#rrggbb' strings."""
    values = [c.strip().lstrip("#") for c in colours]
    return np.array([[int(v[i : i + 2], 16) for i in (0, 2, 4)] for v in values], dtype=np.uint8)


def open_rgb(path: str | Path) -> Image.Image | None:
    """The image at ``path`` upright (its EXIF orientation applied, as a phone photo is meant
    to be seen) in 8-bit RGB, or None when it cannot be read as an image. An image too large
    to decode safely (a decompression bomb: a small file that declares billions of pixels) is
    refused before decoding with an InputError; a file the machine will not let us read
    raises its OSError."""
    from PIL import ImageOps

    try:
        with _open_checked(Path(path)) as img:
            return rgb(ImageOps.exif_transpose(img)).copy()
    except OSError as exc:
        if _machine_fault(exc):
            raise
        return None
    except (ValueError, SyntaxError):  # Pillow's word for some malformed headers
        return None


# No reference photo or frame needs more; a file larger than this is not read at all.
MAX_IMAGE_BYTES = 256 * 1024 * 1024


def _open_checked(path: Path) -> Image.Image:
    """The image opened (its header read, nothing decoded), once its file size and declared
    pixel count are within what is safe to decode."""
    import warnings

    from director.errors import InputError

    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise InputError(
            f"The image {path} has {size:,} bytes; director reads images of up to "
            f"{MAX_IMAGE_BYTES:,} bytes.",
            "Save a smaller copy (a PNG or JPEG of a few thousand pixels a side).",
        )
    limit = Image.MAX_IMAGE_PIXELS or 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            img = None
    if img is None or (limit and img.width * img.height > limit):
        declared = f" declares {img.width}x{img.height} pixels;" if img is not None else ""
        if img is not None:
            img.close()
        raise InputError(
            f"The image {path}{declared or ' declares'} more pixels than is safe to decode "
            f"(director decodes up to {limit:,} pixels).",
            "Save a smaller copy (a PNG or JPEG of a few thousand pixels a side).",
        )
    return img


def _machine_fault(exc: OSError) -> bool:
    import errno

    from director.errors import MACHINE_ERRNOS

    return errno.errorcode.get(exc.errno or 0, "") in MACHINE_ERRNOS


# What a critic may be handed: the image a caller already holds (a PIL image, or an (H, W, 3)
# or (H, W) array of 8-bit or 0-1 float pixels), or the path of an image file.
ImageInput = Image.Image | np.ndarray | str | Path


def as_rgb(image: ImageInput) -> Image.Image:
    """What a critic was handed, as an 8-bit RGB image; a path is read as ``open_rgb`` reads it.
    Raises InputError for a path that cannot be read."""
    if isinstance(image, Image.Image):
        return rgb(image)
    if isinstance(image, np.ndarray):
        return rgb(Image.fromarray(_eight_bit(image)))
    found = open_rgb(image)
    if found is None:
        from director.errors import InputError

        raise InputError(
            f"Cannot read the image {image}.", "Give the path of a PNG or JPEG file that exists."
        )
    return found


def _eight_bit(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    values = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating) and values.max(initial=0.0) <= 1.0:
        values = values * 255.0
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)
