"""The frozen, versioned difficulty of the world.

A difficulty is never edited: a harder or different world is a new entry in ``DIFFICULTIES`` under a new
version, so every export and evaluation that records its ``world_version`` stays reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

WORLD_VERSION = "1"
"""The version of the current world; it is stored on every ``Scene``."""


@dataclass(frozen=True, kw_only=True)
class Difficulty:
    """How hard scenes are: object counts and sizes, overlap, texture and backgrounds."""

    version: str
    """The world version this difficulty defines (the key in ``DIFFICULTIES``)."""
    min_objects: int = 1
    """Fewest objects in a scene."""
    max_objects: int = 6
    """Most objects in a scene (fewer when placement runs out of tries)."""
    min_size: float = 0.2
    """Smallest object diameter (of its circumscribed circle), as a fraction of the image's short side."""
    max_size: float = 0.5
    """Largest object diameter, as a fraction of the image's short side."""
    allow_overlap: bool = True
    """Whether objects may occlude each other (each keeps at least ``min_visible`` of its pixels)."""
    min_visible: float = 0.2
    """Share of each object's own pixels that must stay unoccluded."""
    placement_tries: int = 20
    """Attempts to place one object before the scene keeps the objects it already has."""
    texture_prob: float = 0.25
    """Probability that an object is drawn with a stripe texture instead of a flat colour."""
    backgrounds: tuple[tuple[str, float], ...] = (
        ("flat", 1.0),
        ("gradient", 1.0),
        ("stripes", 1.0),
        ("checker", 1.0),
        ("noise", 1.0),
        ("horizon", 1.0),
    )
    """Background kinds with their (unnormalised) sampling weights."""
    relational_share: float = 0.3
    """Share of referring expressions that are relational ("the star behind the circle"); used later."""

    # Degradation ranges of ``pixwizard.world.degrade``: each is ``(low, high)``, drawn uniformly (integer
    # ranges include both ends). Sizes are in pixels, intensities on the 0-255 scale, densities per pixel.
    noise_sigma: tuple[float, float] = (10.0, 30.0)
    """Standard deviation of the additive Gaussian noise (``noise``), on 0-255."""
    blur_sigma: tuple[float, float] = (1.0, 2.0)
    """Standard deviation of the Gaussian defocus kernel (``blur``), in pixels."""
    motion_length: tuple[int, int] = (5, 9)
    """Length of the linear motion kernel (``motion_blur``), in pixels; its angle is uniform."""
    rain_density: tuple[float, float] = (0.004, 0.012)
    """Rain streaks per pixel of the image (``rain_streaks``)."""
    rain_length: tuple[float, float] = (4.0, 12.0)
    """Length of a rain streak, in pixels."""
    rain_angle: tuple[float, float] = (-0.5, 0.5)
    """Tilt of the rain from vertical, in radians (one tilt per image)."""
    rain_opacity: tuple[float, float] = (0.3, 0.7)
    """How far a streak pulls its pixels towards white (0 none, 1 white)."""
    drop_density: tuple[float, float] = (0.001, 0.002)
    """Raindrops per pixel of the image (``raindrops``)."""
    drop_radius: tuple[float, float] = (2.0, 5.0)
    """Radius of a raindrop, in pixels."""
    drop_brightness: tuple[float, float] = (0.15, 0.4)
    """How far the blurred view inside a drop is pulled towards white."""
    haze_beta: tuple[float, float] = (0.05, 0.15)
    """Scattering coefficient (``haze``): transmission is ``exp(-beta * depth)``, depth in scene units."""
    haze_airlight: tuple[float, float] = (190.0, 240.0)
    """Grey level of the atmospheric light, on 0-255."""
    lowlight_scale: tuple[float, float] = (0.15, 0.4)
    """Exposure factor applied after the gamma (``low_light``)."""
    lowlight_gamma: tuple[float, float] = (1.3, 2.0)
    """Gamma that darkens the mid-tones (``low_light``): ``(x / 255) ** gamma``."""
    lowlight_noise: tuple[float, float] = (1.0, 4.0)
    """Standard deviation of the sensor noise added to a low-light image, on 0-255."""
    snow_density: tuple[float, float] = (0.01, 0.03)
    """Snowflakes per pixel of the image (``snow``)."""
    snow_radius: tuple[float, float] = (0.5, 1.8)
    """Radius of a snowflake, in pixels (each flake draws its own)."""
    snow_veil: tuple[float, float] = (0.0, 0.15)
    """Share of white mixed into the whole image by falling snow."""
    moire_amplitude: tuple[float, float] = (0.15, 0.35)
    """Relative amplitude of the interference pattern (``moire``)."""
    moire_period: tuple[float, float] = (2.5, 6.0)
    """Period of the first grating, in pixels (the second is close to it, which makes the beat)."""
    shadow_strength: tuple[float, float] = (0.35, 0.65)
    """Share of the light a shadow removes (``shadow``)."""
    shadow_softness: tuple[float, float] = (1.0, 4.0)
    """Standard deviation of the shadow's soft edge, in pixels."""
    watermark_opacity: tuple[float, float] = (0.3, 0.6)
    """Opacity of the stamped text or logo (``watermark``)."""
    downsample_factor: tuple[int, int] = (2, 4)
    """Integer down-sampling factor of ``downsample`` (the image is then up-sampled back, nearest)."""
    jpeg_quality: tuple[int, int] = (10, 30)
    """JPEG quality of ``jpeg`` (lower is worse)."""
    jpeg_blur: tuple[float, float] = (0.4, 1.0)
    """Standard deviation of the mild blur applied before the JPEG compression, in pixels."""
    reflection_alpha: tuple[float, float] = (0.15, 0.35)
    """Weight of the reflected (flipped, blurred) copy in ``reflection``."""
    reflection_blur: tuple[float, float] = (1.5, 3.0)
    """Standard deviation of the reflected copy's blur, in pixels."""
    glare_strength: tuple[float, float] = (0.4, 0.8)
    """How far the centre of the glare spot is pulled towards white."""
    glare_radius: tuple[float, float] = (4.0, 12.0)
    """Standard deviation of the glare spot, in pixels."""


DIFFICULTY_V1 = Difficulty(version="1")
"""The first world's difficulty."""

DIFFICULTIES: dict[str, Difficulty] = {"1": DIFFICULTY_V1}
"""Every difficulty ever released, by world version; only ever extended."""
