"""RGB cleanup: despill, luminance restore, edge extend (pixel spread), premultiply.

Images are ``float32 (H, W, 3)``, display-referred in [0, 1] or scene-linear float; mattes
are ``float32 (H, W)`` in [0, 1]. None of these functions changes a matte.
"""

from __future__ import annotations

import numpy as np

from sam3roto.post.checks import check_choice, check_matte, check_range, check_rgb, check_same_size
from sam3roto.post.roi import Roi, matte_roi

DESPILL_MODES = ("green", "blue", "physical")
EDGE_EXTEND_METHODS = ("ml", "push")
#: Rec. 709 luma weights, used for luminance restore.
LUMA_709 = np.array([0.2126, 0.7152, 0.0722], np.float32)


def estimate_screen_colour(image: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """``float32 (3,)``: the colour of the green or blue screen behind the object.

    Taken from the background (``alpha`` ≤ 0.02 when a matte is given, else the whole
    frame): among the pixels where one channel clearly dominates (by 0.08 or more), the
    dominant channel that most of them share is the screen's, and the median of those
    pixels is its colour. A background with no dominant green or blue raises ValueError.
    """
    check_rgb(image)
    pixels = image.reshape(-1, 3)
    if alpha is not None:
        check_matte(alpha, "alpha")
        check_same_size(image, "image", alpha, "alpha")
        pixels = pixels[alpha.reshape(-1) <= 0.02]
    if len(pixels) > 200_000:  # a strided sample is as good as all of a 4K background
        pixels = pixels[:: len(pixels) // 200_000]
    key = np.argmax(pixels, axis=1)
    sorted_ = np.sort(pixels, axis=1)
    dominant = sorted_[:, 2] - sorted_[:, 1] >= 0.08
    votes = np.bincount(key[dominant], minlength=3)
    channel = int(np.argmax(votes[1:]) + 1)  # green (1) or blue (2): red screens are not a thing
    chosen = pixels[dominant & (key == channel)]
    if len(chosen) < 16:
        raise ValueError(
            "no green or blue screen found in the background: fewer than 16 pixels where green or blue "
            "dominates; use despill mode 'green' or 'blue', or give the screen colour"
        )
    return np.median(chosen, axis=0).astype(np.float32)


def check_screen_colour(screen_colour: np.ndarray | None) -> np.ndarray:
    """``float32 (3,)``: a screen colour physical despill can use (finite, non-negative, one
    channel above the others), else ValueError."""
    if screen_colour is None:
        raise ValueError("despill mode 'physical' needs screen_colour; see estimate_screen_colour")
    screen = np.asarray(screen_colour, np.float32).reshape(3)
    if not np.all(np.isfinite(screen)) or screen.min() < 0:
        raise ValueError(f"screen_colour must be 3 finite non-negative values, got {screen_colour!r}")
    ordered = np.sort(screen)
    if ordered[2] - ordered[1] <= 1e-4:
        raise ValueError(f"screen_colour {screen.tolist()} has no dominant channel to remove")
    return screen


def despill(
    image: np.ndarray, *, mode: str, strength: float = 1.0, screen_colour: np.ndarray | None = None
) -> np.ndarray:
    """Remove green or blue spill from ``image``; returns a new image.

    - ``"green"``: green limited to the average of red and blue;
    - ``"blue"``: blue limited to the average of red and green;
    - ``"physical"``: spill is screen light added to the object, so the screen colour
      (``screen_colour``, ``float32 (3,)``, see :func:`estimate_screen_colour`) is
      subtracted in the amount that brings the screen's key channel down to the others,
      then the key channel is limited to the larger of the others.

    In every mode the spill channel never ends up above both other channels. ``strength``
    in [0, 1] blends between the input (0) and the full despill (1).
    """
    check_rgb(image)
    check_choice("mode", mode, DESPILL_MODES)
    check_range("strength", strength, 0.0, 1.0)
    out = image.copy()
    if strength == 0:
        return out
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    if mode == "green":
        out[..., 1] = np.minimum(g, (r + b) * np.float32(0.5))
    elif mode == "blue":
        out[..., 2] = np.minimum(b, (r + g) * np.float32(0.5))
    else:
        screen = check_screen_colour(screen_colour)
        key = int(np.argmax(screen))
        others = [c for c in range(3) if c != key]
        screen_excess = float(screen[key] - screen[others].max())
        excess = image[..., key] - np.maximum(image[..., others[0]], image[..., others[1]])
        amount = np.maximum(excess, 0.0) / np.float32(screen_excess)
        out -= amount[..., None] * screen
        np.maximum(out, 0.0, out=out)
        out[..., key] = np.minimum(out[..., key], np.maximum(out[..., others[0]], out[..., others[1]]))
    if strength < 1:
        out = image + np.float32(strength) * (out - image)
    return out


def luminance_restore(original: np.ndarray, despilled: np.ndarray, *, amount: float = 1.0) -> np.ndarray:
    """Add back, equally to R, G and B, the Rec. 709 luminance that despill removed
    (``amount`` in [0, 1]). Equal addition keeps the despilled hue, so spill does not
    return; values are floored at 0."""
    check_rgb(original, "original")
    check_rgb(despilled, "despilled")
    check_same_size(original, "original", despilled, "despilled")
    check_range("amount", amount, 0.0, 1.0)
    if amount == 0:
        return despilled.copy()
    import cv2

    # cv2.transform is one pass over the pixels; numpy's matmul on (H, W, 3) is several times slower.
    lost = cv2.transform(original - despilled, (np.float32(amount) * LUMA_709).reshape(1, 3))
    out = despilled + lost.reshape(*lost.shape[:2], 1)
    np.maximum(out, 0.0, out=out)
    return out


def _push_pull(rgb: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill every pixel with the weighted colour of its surroundings: a pyramid of weighted
    averages (push) filled back from coarse to fine (pull), as in compositors' edge extend."""
    import cv2

    levels: list[tuple[np.ndarray, np.ndarray]] = []
    c, w = rgb * weight[..., None], weight.copy()
    while min(w.shape) > 2:
        levels.append((c, w))
        c = cv2.resize(c, (max(1, c.shape[1] // 2), max(1, c.shape[0] // 2)), interpolation=cv2.INTER_AREA)
        w = cv2.resize(w, (max(1, w.shape[1] // 2), max(1, w.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    filled = c / np.maximum(w, 1e-6)[..., None]
    for c_l, w_l in reversed(levels):
        up = cv2.resize(filled, (c_l.shape[1], c_l.shape[0]), interpolation=cv2.INTER_LINEAR)
        wl = np.clip(w_l, 0.0, 1.0)[..., None]
        own = c_l / np.maximum(w_l, 1e-6)[..., None]
        filled = own * wl + up * (1.0 - wl)
    return filled.astype(np.float32)


def edge_extend(image: np.ndarray, matte: np.ndarray, *, method: str = "ml", margin_px: int = 32) -> np.ndarray:
    """Foreground colour for every pixel of the object's region, for straight-alpha output.

    Under a soft edge a pixel mixes the object with the background; writing it straight
    with its alpha brings a dark or green halo into the comp. This estimates the object's
    own colour there and pushes it outward over the background (pixel spread):

    - ``"ml"``: multi-level foreground estimation (Germer et al., pymatting), which solves
      ``image = alpha * F + (1 - alpha) * B`` for smooth F and B;
    - ``"push"``: a push-pull fill from the solid core (alpha ≥ 0.98) outward; faster,
      ignores the background's contribution.

    Pixels with alpha = 1 keep their colour. Work is limited to the matte's bounding box
    plus ``margin_px``; pixels farther out are returned unchanged (alpha is 0 there).
    """
    check_rgb(image)
    check_matte(matte)
    check_same_size(image, "image", matte, "matte")
    check_choice("method", method, EDGE_EXTEND_METHODS)
    check_range("margin_px", margin_px, 0, 4096, integer=True)
    out = image.copy()
    roi = matte_roi(matte, margin_px)
    if roi is None:
        return out
    out[roi.slices] = _extend_roi(image, matte, roi, method)
    return out


def _extend_roi(image: np.ndarray, matte: np.ndarray, roi: Roi, method: str) -> np.ndarray:
    img = image[roi.slices]
    alpha = np.clip(matte[roi.slices], 0.0, 1.0)
    if method == "ml":
        from pymatting import estimate_foreground_ml  # imported on use: numba start-up is ~1 s

        fg = np.asarray(estimate_foreground_ml(np.clip(img, 0.0, None), alpha), np.float32)
    else:
        solid = (alpha >= 0.98).astype(np.float32)
        if not solid.any():
            solid = alpha
        fg = _push_pull(img, solid)
    return np.where((alpha >= 1.0)[..., None], img, fg).astype(np.float32)


def premultiply(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image * alpha`` (straight to premultiplied)."""
    check_rgb(image)
    check_matte(alpha, "alpha")
    check_same_size(image, "image", alpha, "alpha")
    return image * alpha[..., None]


def unpremultiply(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``image / alpha`` where alpha > 0, 0 where alpha = 0 (premultiplied to straight)."""
    check_rgb(image)
    check_matte(alpha, "alpha")
    check_same_size(image, "image", alpha, "alpha")
    out = np.zeros_like(image)
    np.divide(image, alpha[..., None], out=out, where=alpha[..., None] > 0)
    return out
