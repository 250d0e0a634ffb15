# Copyright 2026 The face3d_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Expression draws for the re-posed samples: open mouths, smiles and asymmetry made common.

Real photos are mostly near-neutral, and N(0, I) draws over 79 components average out into
small, symmetric-looking changes: a net trained on either never sees a wide-open mouth. The
mixture here (weights in :class:`ExpressionConfig`):

* ``fit``: the expression of another fitted photo (real co-activations);
* ``action``: one to three *actions* on the model's designed blendshapes (named in the model
  metadata, ``expression.designed_blendshapes``), each with amplitude U(lo, hi) sigma; actions
  are mouth open (jaw + lips), smile (both sides, unequal sides, or one side), lips part,
  pucker, lip stretch, brow raise, frown, blink / wink; plus a little N(0, s) on every component;
* ``prior``: N(0, I) clipped, as before.

Models without designed blendshape names (a converted BFM or FLAME) get ``fit`` and ``prior``
draws only; :func:`expression_mode` says which applies, and the synthesis records it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["ACTIONS", "ExpressionConfig", "draw_expression", "expression_mode"]

#: Each action: list of (blendshape name, relative weight, side) with side in {"", "r", "l"};
#: sided entries are drawn with independent amplitudes so smiles come out unequal.
ACTIONS: dict[str, list[tuple[str, float]]] = {
    "mouth_open": [("jaw_open", 1.0), ("lips_part", 0.5)],
    "smile": [("smile_r", 1.0), ("smile_l", 1.0), ("cheek_raise_r", 0.4), ("cheek_raise_l", 0.4)],
    "smile_one_side": [("smile_r", 1.0), ("cheek_raise_r", 0.4)],
    "open_smile": [("jaw_open", 0.6), ("smile_r", 1.0), ("smile_l", 1.0), ("lips_part", 0.5)],
    "lips_part": [("lips_part", 1.0)],
    "pucker": [("pucker", 1.0), ("funnel", 0.3)],
    "lip_stretch": [("lip_stretch_r", 1.0), ("lip_stretch_l", 1.0)],
    "brow_raise": [
        ("brow_inner_raise_r", 1.0),
        ("brow_inner_raise_l", 1.0),
        ("brow_outer_raise_r", 1.0),
        ("brow_outer_raise_l", 1.0),
    ],
    "frown": [
        ("brow_lower_r", 1.0),
        ("brow_lower_l", 1.0),
        ("lip_corner_depress_r", 0.6),
        ("lip_corner_depress_l", 0.6),
    ],
    "blink": [("eye_close_r", 1.0), ("eye_close_l", 1.0)],
    "wink": [("eye_close_r", 1.0), ("cheek_raise_r", 0.3)],
    "jaw_sideways": [("jaw_sideways", 1.0), ("mouth_sideways", 0.5)],
}

#: Relative frequencies of the actions.
ACTION_WEIGHTS: dict[str, float] = {
    "mouth_open": 3.0,
    "smile": 3.0,
    "smile_one_side": 1.5,
    "open_smile": 2.0,
    "lips_part": 1.0,
    "pucker": 1.0,
    "lip_stretch": 0.7,
    "brow_raise": 1.0,
    "frown": 0.7,
    "blink": 0.7,
    "wink": 0.5,
    "jaw_sideways": 0.5,
}


@dataclasses.dataclass(frozen=True)
class ExpressionConfig:
    """Mixture weights and ranges of :func:`draw_expression`.

    Attributes:
        p_fit: Probability of another fit's expression.
        p_action: Probability of designed actions (when the model names its blendshapes).
        max_actions: At most this many actions per draw (uniform 1..max).
        amplitude: Action amplitude range, sigma units (2.5 sigma = the full expression).
        side_spread: Per-side amplitude factor range (unequal smiles / brows).
        base_std: Std of the N(0, s) added on every component in an action draw.
        prior_std: Std of ``prior`` draws.
        clip: Every coefficient is clipped to ``[-clip, clip]``.
    """

    p_fit: float = 0.25
    p_action: float = 0.6
    max_actions: int = 3
    amplitude: tuple[float, float] = (0.6, 2.8)
    side_spread: tuple[float, float] = (0.4, 1.0)
    base_std: float = 0.25
    prior_std: float = 1.0
    clip: float = 3.0


def _names(model: Any) -> list[str]:
    meta = getattr(model.data, "metadata", None) or {}
    exp = meta.get("expression", {}) if isinstance(meta, dict) else {}
    names = exp.get("designed_blendshapes", []) if isinstance(exp, dict) else []
    return list(names)


def expression_mode(model: Any) -> str:
    """``"designed"`` when the model names its blendshapes (actions available), else ``"prior"``."""
    names = set(_names(model))
    needed = {n for parts in ACTIONS.values() for n, _ in parts}
    return "designed" if needed <= names else "prior"


def draw_expression(
    rng: np.random.Generator,
    model: Any,
    cfg: ExpressionConfig,
    other_expressions: Sequence[np.ndarray] = (),
) -> tuple[np.ndarray, str]:
    """One expression ``[K_exp]`` float32 (sigma units) and the mixture branch it came from.

    The random stream is consumed identically for identical inputs (the tracking set re-creates
    the CoarseNet frames from the same stream).
    """
    n = int(model.n_exp)
    u = rng.uniform()
    pick = int(rng.integers(0, max(len(other_expressions), 1)))
    if u < cfg.p_fit and len(other_expressions):
        return np.asarray(other_expressions[pick], np.float32).copy(), "fit"
    names = _names(model)
    if u < cfg.p_fit + cfg.p_action and expression_mode(model) == "designed":
        index = {name: i for i, name in enumerate(names)}
        alpha = rng.normal(0.0, cfg.base_std, size=n)
        keys = list(ACTIONS)
        w = np.array([ACTION_WEIGHTS[k] for k in keys], np.float64)
        count = int(rng.integers(1, cfg.max_actions + 1))
        chosen = rng.choice(len(keys), size=count, replace=False, p=w / w.sum())
        for c in chosen:
            amp = rng.uniform(*cfg.amplitude)
            mirror = rng.uniform() < 0.5  # one-sided actions on either side
            for name, weight in ACTIONS[keys[int(c)]]:
                if mirror and name.endswith(("_r", "_l")):
                    name = name[:-1] + ("l" if name.endswith("r") else "r")
                side = rng.uniform(*cfg.side_spread) if name.endswith(("_r", "_l")) else 1.0
                alpha[index[name]] += amp * weight * side
        return np.clip(alpha, -cfg.clip, cfg.clip).astype(np.float32), "action"
    alpha = np.clip(rng.normal(0.0, cfg.prior_std, size=n), -cfg.clip, cfg.clip)
    return alpha.astype(np.float32), "prior"
