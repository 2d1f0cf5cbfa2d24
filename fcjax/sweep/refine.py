"""Cross-evaluation of a sweep's kept images (host side, plain NumPy): which image is beaten on its own objective by
another image, and which angles are dominated.

Every kept image's objective is a function of its unit values y alone (y measured without random transforms), so
scoring image m at angle a is ``C(normalise(y_m), h_a)``: no model evaluation. An image (row) is *beaten* when some
kept image scores higher on the row's own objective by more than ``tolerance`` (relative); an angle is *dominated*
when its best image is beaten. The refinement rounds (:mod:`fcjax.sweep.run`) re-optimise beaten rows from the image
that beat them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fcjax import objectives

# C lives in the normalised space, where every half-axis reaches 1: "beaten by more than tolerance" is relative to
# |C|, but never finer than tolerance x C_FLOOR (C near 0, e.g. at angles into a collapsed quadrant, has no scale
# of its own, and a relative comparison of two values near 0 would call noise a defeat).
C_FLOOR = 0.1


def normalise_np(y: np.ndarray, norm: np.ndarray) -> np.ndarray:
  """float64 [..., k]: NumPy twin of :func:`fcjax.sweep.program.normalise` (``norm`` [..., 2k]: u0+, u0-, u1+, ...)."""
  y, norm = np.asarray(y, np.float64), np.asarray(norm, np.float64)
  with np.errstate(invalid="ignore", divide="ignore"):
    return y / np.where(y >= 0, norm[..., 0::2], norm[..., 1::2])


def cosdot_np(u: np.ndarray, h: np.ndarray, p: float, floor: float | None) -> np.ndarray:
  """float64 [...]: :func:`fcjax.objectives.direction` in NumPy (same safe norm), u and h broadcast [..., k]."""
  u, h = np.asarray(u, np.float64), np.asarray(h, np.float64)
  eps = objectives.NORM_EPS
  dot = np.sum(u * h, axis=-1)
  nu = np.maximum(np.linalg.norm(u, axis=-1), eps)
  nh = np.maximum(np.linalg.norm(h, axis=-1), eps)
  cos = dot / (nu * nh)
  return dot * (cos if floor is None else np.maximum(floor, cos)) ** p


def beaten(own: np.ndarray, best: np.ndarray, tolerance: float) -> np.ndarray:
  """bool [...]: ``best`` exceeds ``own`` by more than ``tolerance * max(|own|, C_FLOOR)``; a non-finite ``own`` is
  beaten by any finite ``best``."""
  own, best = np.asarray(own, np.float64), np.asarray(best, np.float64)
  fin = np.isfinite(own)
  o = np.where(fin, own, 0.0)
  with np.errstate(invalid="ignore"):
    return np.isfinite(best) & (~fin | (best > o + tolerance * np.maximum(np.abs(o), C_FLOOR)))


class CrossEval(NamedTuple):
  """Every kept image of one combination scored at every direction.

  Attributes:
    scores: float64 [A, M] C of candidate m at angle a (normalised space, reported form).
    best: int [A] the candidate scoring highest at each angle (NaN never wins).
  """
  scores: np.ndarray
  best: np.ndarray


def directions_of(thetas: np.ndarray) -> np.ndarray:
  """float64 [A, k]: target directions given as angles [A] (pairs: (cos θ, sin θ)) or as unit vectors [A, k]."""
  d = np.asarray(thetas, np.float64)
  return np.stack([np.cos(d), np.sin(d)], axis=-1) if d.ndim == 1 else d


def cross_evaluate(cand_y: np.ndarray, norm: np.ndarray, thetas: np.ndarray, p: float,
                   floor: float | None) -> CrossEval:
  """Score candidates ``cand_y`` [M, k] (raw y) at every direction (``thetas``: angles [A] of a pair, or unit
  vectors [A, k]) with normalisers ``norm`` [2k]."""
  u = normalise_np(cand_y, norm)                                 # [M, k]
  h = directions_of(thetas)                                      # [A, k]
  with np.errstate(invalid="ignore", over="ignore"):
    s = cosdot_np(u[None, :, :], h[:, None, :], p, floor)        # [A, M]
  best = np.argmax(np.where(np.isfinite(s), s, -np.inf), axis=1)
  return CrossEval(s, best)


def axis_values(cand_y: np.ndarray) -> np.ndarray:
  """float64 [M, 2k]: how far each candidate goes along each half-axis (u0+, u0-, u1+, ...): ``sign * coordinate``."""
  y = np.asarray(cand_y, np.float64)
  return np.stack([y, -y], axis=-1).reshape(len(y), -1)


def dominated_angles(c: np.ndarray, ev: CrossEval, tolerance: float) -> np.ndarray:
  """bool [A]: angles whose best seed (``c`` [A, S], NaN-aware) is beaten by some candidate."""
  c = np.asarray(c, np.float64)
  own = np.where(np.isfinite(c), c, -np.inf).max(axis=1)
  own = np.where(np.isfinite(own), own, np.nan)
  top = ev.scores[np.arange(len(ev.best)), ev.best]
  return beaten(own, top, tolerance)


def cand_leaf_of(x_rows: np.ndarray, x_axis: np.ndarray, pp: np.ndarray, m: np.ndarray, n_rows: int,
                 n_half: int = 4) -> np.ndarray:
  """Rows of candidates ``m`` of pairs ``pp``: candidate m < n_rows is angle row ``pp * n_rows + m`` of ``x_rows``,
  else half-axis ``m - n_rows`` of pair pp in ``x_axis`` (``n_half`` = 2k rows per combination)."""
  is_ax = m >= n_rows
  out = np.empty((len(m),) + x_rows.shape[1:], x_rows.dtype)
  if (~is_ax).any():
    out[~is_ax] = x_rows[pp[~is_ax] * n_rows + m[~is_ax]]
  if is_ax.any():
    out[is_ax] = x_axis[pp[is_ax] * n_half + m[is_ax] - n_rows]
  return out


def refine(session, pairs_arr: np.ndarray, norm: np.ndarray, thetas: np.ndarray, phase2: tuple, axis: dict) -> dict:
  """Cross-evaluation and refinement rounds after the angles (phase 2) of a sweep.

  Candidates of combination p: its A x S direction images and its 2k half-axis images (``axis``). Each round: score every
  candidate on every row's objective (an angle row: C at its angle; a half-axis row: how far it goes along it);
  every beaten row is re-optimised for ``refine_steps`` from the candidate that beat it (warm start, key stream
  3 + r), in one compiled program of one shape (chunks of P x A rows, padded); the row then keeps the best of its
  own image, the refined one and the one that beat it. Stops when no row is beaten; when ``refine_rounds`` are
  spent, every row still beaten keeps the image that beats it (no compute), so no kept image is beaten; the angles
  that were still beaten are recorded (``meta['dominated']``) as the evidence of under-optimisation.

  Args:
    session: the sweep's ``_Session`` (runs phases, :mod:`fcjax.sweep.run`).
    pairs_arr: int [P, k]; norm: float [P, 2k] normalisers; thetas: float [A] angles (pairs) or [A, k] directions.
    phase2: host (images uint8 [N, ...], y [N, k], leaves [N, ...]) of phase 2, N = P*A*S.
    axis: ``{"y": [P, 2k, k], "leaves": [P*2k, ...], "images": [P*2k, ...]}`` the half-axis images seen by the
      combination's units.

  Returns:
    dict: images, y, c (flat rows, updated), axis_y [P, 2k, k] (updated), meta (rounds, dominated directions before /
    after, image-steps).
  """
  from fcjax.sweep.program import STREAM_REFINE, make_entries, reported_floor  # program imports nothing from here
  cfg = session.config
  n_p, n_a, n_s = len(pairs_arr), len(thetas), cfg.n_seeds
  k_units = pairs_arr.shape[1]
  n_half = 2 * k_units
  imgs, y, leaves = phase2
  imgs, y = imgs.copy(), np.asarray(y, np.float64).reshape(n_p, n_a * n_s, k_units).copy()
  leaves = [np.asarray(x).copy() for x in leaves]
  ax_y = np.asarray(axis["y"], np.float64).copy()                     # [P, 2k, k]
  ax_leaves = [np.asarray(x).copy() for x in axis["leaves"]]          # [P*2k, ...]
  ax_imgs = np.asarray(axis["images"]).copy()                         # [P*2k, ...] uint8, kept with ax_leaves
  p_exp, floor, tol = cfg.p, reported_floor(cfg), cfg.refine_tolerance
  steps = cfg.refine_steps_or_default
  chunk = n_p * n_a if cfg.chunk_size is None else min(cfg.chunk_size, n_p * n_a)
  h_ang = directions_of(thetas)
  rounds, before = [], None
  for r in range(cfg.refine_rounds + 1):
    cand = np.concatenate([y, ax_y], axis=1)                            # [P, M, k], M = A*S + 2k
    own_c = np.empty((n_p, n_a * n_s))
    top_c, src_c = np.empty((n_p, n_a * n_s)), np.empty((n_p, n_a * n_s), int)
    dominated = np.zeros((n_p, n_a), bool)
    ax_own, ax_top, ax_src = np.empty((n_p, n_half)), np.empty((n_p, n_half)), np.empty((n_p, n_half), int)
    for p in range(n_p):
      ev = cross_evaluate(cand[p], norm[p], thetas, p_exp, floor)     # [A, M]
      sc = ev.scores[np.repeat(np.arange(n_a), n_s)]                  # [A*S, M] the row's angle
      own_c[p] = sc[np.arange(n_a * n_s), np.arange(n_a * n_s)]
      top = ev.scores[np.arange(n_a), ev.best]                          # NaN never wins
      src_c[p], top_c[p] = ev.best[np.repeat(np.arange(n_a), n_s)], top.repeat(n_s)
      dominated[p] = dominated_angles(own_c[p].reshape(n_a, n_s), ev, tol)
      av = axis_values(cand[p])                                         # [M, 2k]
      ax_own[p] = av[n_a * n_s + np.arange(n_half), np.arange(n_half)]
      ax_src[p] = np.argmax(np.where(np.isfinite(av), av, -np.inf), axis=0)
      ax_top[p] = av[ax_src[p], np.arange(n_half)]
    if r == 0:
      before = dominated.copy()
    hit = beaten(own_c, top_c, tol)                                     # [P, A*S]
    ax_hit = beaten(ax_own, ax_top, tol)                                # [P, 2k]
    info = {"round": r, "beaten_images": int(hit.sum()), "beaten_half_axes": int(ax_hit.sum()),
            "dominated_angles": int(dominated.sum())}
    if not (hit.any() or ax_hit.any()):
      rounds.append(info)
      break
    rp, rr = np.nonzero(hit)
    ap, ak = np.nonzero(ax_hit)
    if r == cfg.refine_rounds:  # budget spent: every row still beaten keeps the image that beats it (no compute)
      flat = rp * n_a * n_s + rr
      y[rp, rr] = cand[rp, src_c[rp, rr]]
      imgs[flat] = cand_leaf_of(imgs, ax_imgs, rp, src_c[rp, rr], n_a * n_s, n_half)
      ax_y[ap, ak] = cand[ap, ax_src[ap, ak]]
      info["adopted_images"], info["adopted_half_axes"] = int(len(rp)), int(len(ap))
      rounds.append(info)
      break
    src = np.concatenate([src_c[rp, rr], ax_src[ap, ak]])
    owner = np.concatenate([rp, ap])

    def cand_leaf(x_rows, x_axis, pp, m):
      return cand_leaf_of(x_rows, x_axis, pp, m, n_a * n_s, n_half)

    start = [cand_leaf(lr, la, owner, src) for lr, la in zip(leaves, ax_leaves)]
    # the sources as scored (copies: the starting leaves go to the device, whose state is donated)
    src_leaves, src_imgs = [x.copy() for x in start], cand_leaf(imgs, ax_imgs, owner, src)
    h = np.concatenate([h_ang[rr // n_s], np.eye(k_units)[ak // 2] * np.where(ak % 2 == 0, 1.0, -1.0)[:, None]])
    seeds = np.concatenate([rr % n_s, np.zeros(len(ap), int)])
    linear = np.concatenate([np.zeros(len(rp), bool), np.ones(len(ap), bool)])
    ent = make_entries(pairs_arr[owner], h, norm[owner], linear, True, STREAM_REFINE + r, seeds)
    new_imgs, new_y, _, _, _, new_leaves = session.run_phase(3 + r, ent, None, steps=steps, start_leaves=start,
                                                             chunk_size=chunk)
    new_y = np.asarray(new_y, np.float64)
    info["image_steps"] = int(len(owner) * steps)
    n_img = len(rp)
    # angle rows: keep the best of own, refined, source
    new_c = cosdot_np(normalise_np(new_y[:n_img], norm[rp]), h[:n_img], p_exp, floor)
    src_y = cand[rp, src[:n_img]]
    take_new = new_c >= top_c[rp, rr]
    flat = rp * n_a * n_s + rr
    y[rp, rr] = np.where(take_new[:, None], new_y[:n_img], src_y)
    imgs[flat] = np.where(take_new[:, None, None, None], new_imgs[:n_img], src_imgs[:n_img])
    for leaf, nl, sl in zip(leaves, new_leaves, src_leaves):
      sel = take_new.reshape((-1,) + (1,) * (leaf.ndim - 1))
      leaf[flat] = np.where(sel, np.asarray(nl)[:n_img], sl[:n_img])
    # half-axis rows: the furthest of own, refined, source along the half-axis
    if len(ap):
      nv = axis_values(new_y[n_img:])[np.arange(len(ap)), ak]
      take = nv >= ax_top[ap, ak]
      ax_y[ap, ak] = np.where(take[:, None], new_y[n_img:], cand[ap, ax_src[ap, ak]])
      for leaf, nl, sl in zip(ax_leaves, new_leaves, src_leaves):
        sel = take.reshape((-1,) + (1,) * (leaf.ndim - 1))
        leaf[ap * n_half + ak] = np.where(sel, np.asarray(nl)[n_img:], sl[n_img:])
      ax_imgs[ap * n_half + ak] = np.where(take[:, None, None, None], new_imgs[n_img:], src_imgs[n_img:])
    info["improved_by_refining"] = int(take_new.sum())
    rounds.append(info)
  # dominated_after: angles still beaten after the last optimisation round (the evidence of under-optimisation);
  # their rows then kept the beating image, so no kept image is beaten (kept_beaten, recomputed here).
  final_c, kept = np.empty((n_p, n_a * n_s)), np.empty((n_p, n_a), bool)
  for p in range(n_p):
    ev = cross_evaluate(np.concatenate([y[p], ax_y[p]]), norm[p], thetas, p_exp, floor)
    final_c[p] = ev.scores[np.repeat(np.arange(n_a), n_s), np.arange(n_a * n_s)]
    kept[p] = dominated_angles(final_c[p].reshape(n_a, n_s), ev, tol)
  meta = {"tolerance": tol, "steps_per_round": steps, "max_rounds": cfg.refine_rounds, "rounds": rounds,
          "dominated_before": int(before.sum()), "dominated_after": int(dominated.sum()),
          "kept_beaten": int(kept.sum()),
          "dominated": np.argwhere(dominated).tolist(), "dominated_before_list": np.argwhere(before).tolist(),
          "image_steps": int(sum(x.get("image_steps", 0) for x in rounds))}
  return {"images": imgs, "y": y.reshape(-1, k_units).astype(np.float32), "c": final_c.reshape(-1).astype(np.float32),
          "axis_y": ax_y.astype(np.float32), "meta": meta}
