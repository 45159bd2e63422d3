"""Realistic blur synthesis, modelled on how GOPRO and REDS were made (paper Sec. 2.3).

A sharp photo crop is rendered along a smooth random camera trajectory as many sub-frames (translation, in-plane
rotation, zoom and slight perspective: a homography per sub-frame, hence spatially varying blur); independently
moving foreground regions add object motion; the sub-frames are averaged in the sensor's linear domain (through
the inverse CRF), Poisson-Gaussian noise is added, and the CRF is re-applied. The middle sub-frame is the identity,
so the sharp image is exactly the crop. All randomness comes from a ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as Fnn

from blurkit.data.crf import CRF
from blurkit.data.domains import Domain, get_domain
from blurkit.data.kernels import convolve, eight_kernels
from blurkit.data.sensor_noise import linear_noise
from blurkit.errors import ImageSizeError

SYNTHESIS_VERSION = 2
"""Bump when the rendering changes: built default sets of an older version are rebuilt."""

REFERENCE_SIDE = 384
"""Motion lengths are fractions of this side (the prepared photos' short side), whatever the crop size: blur
length in pixels is a property of the camera and the scene, not of how large a crop is cut."""


@dataclass
class Motion:
    """Sampled motion of one pair; every value is a plain number so that it can go into a manifest.

    Camera parameters are polynomial-plus-jitter paths over time ``tau`` in ``[-exposure/2, exposure/2]``.
    """

    exposure: float
    camera: dict[str, list[float]] = field(default_factory=dict)
    objects: list[dict[str, Any]] = field(default_factory=list)
    crop_yx: tuple[int, int] = (0, 0)
    kernel_index: int | None = None

    def to_dict(self) -> dict:
        return {"exposure": self.exposure, "camera": self.camera, "objects": self.objects,
                "crop_yx": list(self.crop_yx), "kernel_index": self.kernel_index}


def _path(rng: np.random.Generator, speed: float, accel: float, shake: float, freq: tuple[float, float]) -> list[float]:
    """Coefficients [v, a, shake_amp, shake_freq, shake_phase] of a smooth 1-D path."""
    return [float(rng.normal(0, speed)), float(rng.normal(0, accel)), float(abs(rng.normal(0, shake))),
            float(rng.uniform(*freq)), float(rng.uniform(0, 2 * math.pi))]


def _eval_path(c: list[float], tau: np.ndarray) -> np.ndarray:
    v, a, amp, f, ph = c
    val = v * tau + a * tau**2 + amp * np.sin(2 * math.pi * f * tau + ph)
    return val - amp * math.sin(ph)  # zero at tau = 0: the middle sub-frame is the sharp image


def sample_motion(domain: Domain, rng: np.random.Generator) -> Motion:
    """Draw the camera and object motion of one pair from the domain's statistics."""
    d = domain
    m = Motion(exposure=float(rng.uniform(*d.exposure)))
    for axis in ("tx", "ty"):
        m.camera[axis] = _path(rng, d.speed, d.accel, d.shake, d.shake_freq)
    m.camera["rot"] = _path(rng, d.rotation, d.rotation / 2, d.shake * 50, d.shake_freq)  # degrees
    m.camera["zoom"] = _path(rng, d.zoom, d.zoom / 2, 0.0, d.shake_freq)
    for axis in ("px", "py"):
        m.camera[axis] = _path(rng, d.perspective, 0.0, 0.0, d.shake_freq)
    n_obj = int(rng.integers(d.objects[0], d.objects[1] + 1))
    for _ in range(n_obj):
        r = float(rng.uniform(*d.object_size))
        m.objects.append({
            "center": [float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.6, 0.6))],  # normalised coords
            "radius": [r, float(r * rng.uniform(0.6, 1.6))],
            "angle": float(rng.uniform(0, math.pi)),
            "vx": _path(rng, d.object_speed, d.object_speed / 2, 0.0, d.shake_freq),
            "vy": _path(rng, d.object_speed, d.object_speed / 2, 0.0, d.shake_freq),
        })
    return m


def camera_homographies(m: Motion, taus: np.ndarray, to_norm: float) -> torch.Tensor:
    """Per-sub-frame homographies in normalised coordinates of the rendered region.

    ``to_norm`` converts motion lengths (fractions of :data:`REFERENCE_SIDE`) to normalised region units.
    Shape: out ``(T, 3, 3)``.
    """
    c = m.camera
    tx, ty = _eval_path(c["tx"], taus) * to_norm, _eval_path(c["ty"], taus) * to_norm
    rot = np.deg2rad(_eval_path(c["rot"], taus))
    zoom = 1.0 + _eval_path(c["zoom"], taus)
    px, py = _eval_path(c["px"], taus), _eval_path(c["py"], taus)
    hs = np.zeros((len(taus), 3, 3))
    hs[:, 0, 0] = zoom * np.cos(rot)
    hs[:, 0, 1] = -zoom * np.sin(rot)
    hs[:, 1, 0] = zoom * np.sin(rot)
    hs[:, 1, 1] = zoom * np.cos(rot)
    hs[:, 0, 2] = tx
    hs[:, 1, 2] = ty
    hs[:, 2, 0] = px
    hs[:, 2, 1] = py
    hs[:, 2, 2] = 1.0
    return torch.from_numpy(hs).float()


def _warp(img: torch.Tensor, hs: torch.Tensor) -> torch.Tensor:
    """Sample ``img`` at ``H @ p`` for every output pixel ``p`` and every homography.

    Shape: img ``(1, C, S, S)``, hs ``(T, 3, 3)``; out ``(T, C, S, S)``.
    """
    s = img.shape[-1]
    lin = (torch.arange(s, dtype=torch.float32) + 0.5) / s * 2 - 1
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([xx, yy, torch.ones_like(xx)], dim=-1).reshape(-1, 3)  # (S*S, 3)
    src = torch.einsum("tij,nj->tni", hs, pts)
    grid = (src[..., :2] / src[..., 2:].clamp_min(1e-6)).reshape(len(hs), s, s, 2)
    return Fnn.grid_sample(img.expand(len(hs), -1, -1, -1), grid, mode="bilinear", padding_mode="reflection",
                           align_corners=False)


def _ellipse_mask(s: int, obj: dict, scale: float) -> torch.Tensor:
    """A soft elliptical mask in the rendered region. Shape: out ``(1, 1, S, S)``."""
    lin = (torch.arange(s, dtype=torch.float32) + 0.5) / s * 2 - 1
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    cx, cy = (v * scale for v in obj["center"])
    rx, ry = (v * 2 * scale for v in obj["radius"])
    ca, sa = math.cos(obj["angle"]), math.sin(obj["angle"])
    u = ((xx - cx) * ca + (yy - cy) * sa) / rx
    v = (-(xx - cx) * sa + (yy - cy) * ca) / ry
    rr = torch.sqrt(u**2 + v**2)
    edge = 4.0 / s / min(rx, ry) + 0.05  # a few pixels of soft edge
    return torch.clamp((1.0 - rr) / edge + 0.5, 0.0, 1.0)[None, None]


def render_blur(region: torch.Tensor, domain: Domain, motion: Motion, crop: int,
                exposure: float | None = None) -> torch.Tensor:
    """Render the blurry image of a region in the *linear* domain, before noise and CRF.

    Shape: region ``(1, C, S, S)`` linear signal with ``S >= crop``; out ``(1, C, S, S)``.
    """
    s = region.shape[-1]
    exp = motion.exposure if exposure is None else exposure
    n = domain.n_subframes
    taus = np.linspace(-exp / 2, exp / 2, n) if n > 1 else np.zeros(1)
    scale = crop / s  # crop fractions -> region fractions (object placement and size)
    to_norm = 2.0 * REFERENCE_SIDE / s  # motion lengths -> normalised units
    hs = camera_homographies(motion, taus, to_norm)
    frames = _warp(region, hs)  # (T, C, S, S)
    for obj in motion.objects:
        ox = _eval_path(obj["vx"], taus) * to_norm
        oy = _eval_path(obj["vy"], taus) * to_norm
        shift = torch.zeros(n, 3, 3)
        shift[:, 0, 0] = shift[:, 1, 1] = shift[:, 2, 2] = 1.0
        shift[:, 0, 2] = torch.from_numpy(-ox).float()
        shift[:, 1, 2] = torch.from_numpy(-oy).float()
        h_obj = hs @ shift  # object moves by +o on top of the camera motion
        mask = _warp(_ellipse_mask(s, obj, scale), h_obj)
        layer = _warp(region, h_obj)
        frames = mask * layer + (1 - mask) * frames
    return frames.mean(dim=0, keepdim=True)


def render_margin(crop: int) -> int:
    """Pixels rendered on every side of a dynamic crop, so that motion brings real content into it."""
    return crop // 4 + REFERENCE_SIDE // 12


def exact_blur(params: dict, domain: str | Domain, crop: int):  # type: ignore[no-untyped-def]
    """The exact blur of a recorded dynamic pair as a linear map of the linear-domain scene, before noise and CRF:
    camera motion and every moving object, as :func:`synthesize_pair` renders them (its masks depend on the motion
    only, so the map is linear in the scene).

    Shape: the returned function maps a region ``(1, C, crop + 2m, crop + 2m)`` (``m = render_margin(crop)``) to the
    blurry crop ``(1, C, crop, crop)``.
    """
    dom = get_domain(domain)
    if dom.kind != "dynamic":
        raise ValueError(f"exact_blur renders dynamic domains; '{dom.name}' is a uniform kernel")
    motion = Motion(exposure=float(params["exposure"]), camera=params["camera"], objects=params["objects"])
    m = render_margin(crop)

    def apply(region: torch.Tensor) -> torch.Tensor:
        return render_blur(region, dom, motion, crop)[..., m:m + crop, m:m + crop]
    return apply


def synthesize_pair(photo: np.ndarray, domain: str | Domain, crop: int, rng: np.random.Generator,
                    exposure: float | None = None, noise: bool = True,
                    motion: dict | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Cut a ``crop x crop`` sharp/blurry pair from a photo.

    ``exposure`` overrides the sampled exposure (0 gives back the sharp image when ``noise=False``).
    ``motion`` replays the recorded parameters of another pair (``params`` of a manifest: its camera path,
    objects, exposure or kernel) on this photo: the ground truth of transferring that pair's blur.

    Shape:
        photo ``(H, W, 3)`` float in [0, 1]; sharp and blur out ``(crop, crop, 3)`` float32 in [0, 1].
    """
    dom = get_domain(domain)
    h, w = photo.shape[:2]
    if min(h, w) < crop:
        raise ImageSizeError(f"photo is {h}x{w} px, smaller than the {crop} px crop")
    if motion is not None:
        replay = Motion(exposure=float(motion["exposure"]), camera=motion["camera"], objects=motion["objects"],
                        kernel_index=motion.get("kernel_index"))
    else:
        replay = None
    motion = replay or (sample_motion(dom, rng) if dom.kind == "dynamic" else Motion(exposure=1.0))
    y0 = int(rng.integers(0, h - crop + 1))
    x0 = int(rng.integers(0, w - crop + 1))
    motion.crop_yx = (y0, x0)
    sharp = np.ascontiguousarray(photo[y0:y0 + crop, x0:x0 + crop, :3], dtype=np.float32)
    if dom.kind == "uniform":
        idx = motion.kernel_index if replay is not None else int(rng.integers(0, 8))
        motion.kernel_index = idx
        x = torch.from_numpy(sharp).permute(2, 0, 1)[None]
        blur = convolve(x, eight_kernels()[idx])[0].permute(1, 2, 0).numpy()
        return sharp, np.clip(blur, 0, 1).astype(np.float32), motion.to_dict()
    # render a larger region (margin on every side) so that motion brings real content into the crop
    margin = render_margin(crop)
    pad_y0, pad_x0 = y0 - margin, x0 - margin
    side = crop + 2 * margin
    region = _padded_region(photo, pad_y0, pad_x0, side)
    crf = CRF(dom.crf)
    lin = crf.inverse(torch.from_numpy(region).permute(2, 0, 1)[None])
    blur_lin = render_blur(lin, dom, motion, crop, exposure)[..., margin:margin + crop, margin:margin + crop]
    if noise and (dom.shot_noise > 0 or dom.read_noise > 0):
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        blur_lin = linear_noise(blur_lin, dom, gen)
    blur = crf.forward(blur_lin.clamp(0, 1))[0].permute(1, 2, 0).numpy()
    params = motion.to_dict()
    if exposure is not None:
        params["exposure"] = float(exposure)
    return sharp, blur.astype(np.float32), params


def _padded_region(photo: np.ndarray, y0: int, x0: int, side: int) -> np.ndarray:
    """``photo[y0:y0+side, x0:x0+side]`` with reflection where the window leaves the photo."""
    h, w = photo.shape[:2]
    ys = np.arange(y0, y0 + side)
    xs = np.arange(x0, x0 + side)
    ys = np.abs(ys)
    ys = np.where(ys >= h, 2 * (h - 1) - ys, ys).clip(0, h - 1)
    xs = np.abs(xs)
    xs = np.where(xs >= w, 2 * (w - 1) - xs, xs).clip(0, w - 1)
    return np.ascontiguousarray(photo[np.ix_(ys, xs)][..., :3], dtype=np.float32)


def blur_amount(sharp: np.ndarray, blur: np.ndarray) -> float:
    """Loss of gradient energy from sharp to blurry, in [0, 1]: 0 for identical images, near 1 for a flat blur."""
    def grad_energy(img: np.ndarray) -> float:
        g = img.mean(axis=-1) if img.ndim == 3 else img
        return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())

    es, eb = grad_energy(sharp), grad_energy(blur)
    return float(max(0.0, 1.0 - eb / max(es, 1e-12)))
