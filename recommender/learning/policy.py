"""A fitted policy: estimated rewards, the exploit policy and the Thompson policy.

`Policy` holds plain numpy arrays and round-trips through `to_bytes` / `from_bytes` (an
``.npz`` archive, read back without pickle).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import numpy as np
from scipy.special import expit

from recommender.learning.basis import ContextBasis
from recommender.learning.config import _single_threaded_blas
from recommender.learning.model import _as_2d_float

#: 2 added the nonlinear basis (``basis_cols``, ``basis_knots``); format 1 archives (a model
#: linear in the context) still load.
FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)
#: Thompson draws computed at a time: about 1 MB of float32, so that the draws, their noise
#: and their argmax stay in the core's cache (with 4,000,000 a batch ran 10-30% slower).
_DRAWS_PER_CHUNK = 250_000


class Policy:
    """A fitted policy: estimated rewards, the exploit policy and the Thompson policy.

    Build one with :func:`fit_policy` or :meth:`from_bytes`. All state is plain numpy arrays
    (see :attr:`state`), so it can be persisted with :meth:`to_bytes` (an ``.npz`` archive in
    bytes, read back without pickle).
    """

    _ARRAYS = (
        "x_mean",
        "x_scale",
        "action_design",
        "b0",
        "c",
        "b",
        "v",
        "W",
        "U",
        "var_c",
        "var_b",
        "var_W",
        "var_U",
        "z_shared",
        "z_action",
        "basis_cols",
        "basis_knots",
        "own_var_beta",
        "own_var_const",
    )

    def __init__(self, state: dict[str, np.ndarray], meta: dict[str, object]) -> None:
        # Arrays a format 1 archive does not have: no step columns, no cap on the noise.
        state = {"basis_cols": np.zeros(0), "basis_knots": np.zeros(0), **state}
        if "U" in state and "b" in state:
            state.setdefault("own_var_beta", np.full(np.shape(state["U"]), 1e12))
            state.setdefault("own_var_const", np.full(np.shape(state["b"]), 1e12))
        missing = [name for name in self._ARRAYS if name not in state]
        if missing:
            raise ValueError(f"policy state is missing arrays: {missing}")
        self._s = {name: np.asarray(state[name], dtype=np.float64) for name in self._ARRAYS}
        self._basis = ContextBasis(
            self._s["basis_cols"].astype(np.int64), self._s["basis_knots"].copy()
        )
        # Round-trip through JSON so a fresh policy and a restored one carry the same meta.
        self.meta = json.loads(json.dumps(meta, sort_keys=True))
        self.n_actions = int(self.meta["n_actions"])
        self.n_features = int(self.meta["n_features"])
        self.epsilon = float(self.meta["epsilon"])
        self.reward_scale = float(self.meta["reward_scale"])

    # -- persistence -------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, np.ndarray]:
        """Plain-data state: every array the policy needs (copies)."""
        return {name: arr.copy() for name, arr in self._s.items()}

    def to_bytes(self) -> bytes:
        """Serialise as a compressed ``.npz`` archive (arrays plus a JSON ``meta`` string)."""
        buf = io.BytesIO()
        meta = np.frombuffer(json.dumps(self.meta, sort_keys=True).encode(), dtype=np.uint8)
        np.savez_compressed(buf, __meta__=meta, **self._s)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Policy:
        """Inverse of :meth:`to_bytes`; never unpickles (``allow_pickle=False``)."""
        try:
            npz = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a policy archive: {exc}") from exc
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not a policy archive: a single array, not an .npz archive")
        with npz:
            if "__meta__" not in npz.files:
                raise ValueError("not a policy archive: no __meta__ entry")
            meta = json.loads(npz["__meta__"].tobytes().decode())
            if int(meta.get("format_version", -1)) not in _READABLE_FORMATS:
                raise ValueError(
                    f"unsupported policy format {meta.get('format_version')!r}; "
                    f"expected one of {_READABLE_FORMATS}"
                )
            state = {name: npz[name] for name in cls._ARRAYS if name in npz.files}
        return cls(state, meta)

    # -- scoring -----------------------------------------------------------------------------

    def _check_X(self, X: object) -> np.ndarray:
        Xa = _as_2d_float(X, "X")
        if Xa.shape[1] != self.n_features:
            raise ValueError(
                f"X has {Xa.shape[1]} features but the policy was fitted on {self.n_features}"
            )
        return Xa

    def _check_eligible(self, eligible: object | None, m: int) -> np.ndarray:
        if eligible is None:
            return np.ones((m, self.n_actions), dtype=bool)
        el = np.asarray(eligible)
        if el.shape != (m, self.n_actions):
            raise ValueError(f"eligible must have shape ({m}, {self.n_actions}); got {el.shape}")
        if el.dtype != bool:
            if not np.all((el == 0) | (el == 1)):
                raise ValueError("eligible must be boolean")
            el = el.astype(bool)
        empty = ~el.any(axis=1)
        if m and empty.any():
            rows = np.flatnonzero(empty)
            raise ValueError(
                f"{rows.size} row(s) have no eligible action (first: row {rows[0]}); "
                "drop them before asking the policy (there is nothing to choose)"
            )
        return el

    def _standardised(self, X: np.ndarray) -> np.ndarray:
        """The context as the model sees it: raw columns and step columns, standardised."""
        s = self._s
        return (self._basis.transform(X) - s["x_mean"]) / s["x_scale"]

    def _logits(self, Xs: np.ndarray) -> np.ndarray:
        """Estimated reward logits (m, A) of standardised contexts, without the context main
        effect (same argmax)."""
        s = self._s
        G = s["action_design"]
        out = s["b0"][0] + s["b"] + (G @ s["c"] if G.shape[1] else 0.0) + Xs @ s["U"]
        if G.shape[1]:
            out = out + (Xs @ s["W"]) @ G.T
        return out

    def expected_rewards(self, X: object) -> np.ndarray:
        """Estimated expected reward of every action for each context, shape (m, n_actions).

        In the units of the training rewards. For explanations and reports; the policy only
        uses their order.
        """
        Xs = self._standardised(self._check_X(X))
        logits = self._logits(Xs) + (Xs @ self._s["v"])[:, None]
        return expit(logits) * self.reward_scale

    def probabilities(
        self, X: object, *, eligible: object | None = None, explore: bool = True
    ) -> np.ndarray:
        """Probability of choosing each action for each context, shape (m, n_actions).

        Rows are finite, non-negative and sum to 1, with exact zeros where ``eligible`` is
        False. ``explore=False`` is the argmax of the estimated reward among eligible actions
        (ties split evenly). ``explore=True`` is Thompson sampling from the posterior (Monte
        Carlo over fixed draws, so deterministic) mixed with ``epsilon`` spread over the
        eligible actions, so every eligible action has probability >= epsilon / #eligible.

        Raises ``ValueError`` for a row with no eligible action: there is nothing to choose,
        and silently returning something would hide a compliance bug upstream.
        """
        Xa = self._check_X(X)
        m = Xa.shape[0]
        el = self._check_eligible(eligible, m)
        if m == 0:
            return np.zeros((0, self.n_actions))
        if m * self.n_features < 100_000:  # small: no threads anyway, skip the limiter's cost
            return self._probabilities(Xa, el, explore)
        with _single_threaded_blas():
            return self._probabilities(Xa, el, explore)

    def _probabilities(self, Xa: np.ndarray, el: np.ndarray, explore: bool) -> np.ndarray:
        """`probabilities` on checked inputs.

        It stays whole on purpose: it is the inner loop of every decision, and its chunked
        Monte Carlo pass shares a dozen arrays (draws, gathered columns, masks) that helper
        calls would only hand back and forth.
        """
        m = Xa.shape[0]
        Xs = self._standardised(Xa)
        logits = self._logits(Xs)
        if not explore:
            return _argmax_probabilities(logits, el)
        s = self._s
        G = s["action_design"]
        # Score noise under the diagonal posterior, exactly: shared part F diag(q) F^T plus an
        # independent per-action part. The context main effect is common to all actions.
        var_action = (Xs**2) @ s["var_U"] + s["var_b"]  # (m, A)
        total = var_action
        if G.shape[1]:
            var_shared = (Xs**2) @ s["var_W"] + s["var_c"]  # (m, k)
            sd_shared = np.sqrt(var_shared)
            total = var_action + var_shared @ (G**2).T
        # ... capped by what the action's own rows alone say about its score (see fit.py),
        # scaling both parts of an action's noise alike.
        own = (Xs**2) @ s["own_var_beta"] + s["own_var_const"]
        shrink = np.sqrt(np.minimum(1.0, own / np.maximum(total, 1e-300)))  # (m, A)
        sd_action = np.sqrt(var_action) * shrink
        z_sh, z_ac = s["z_shared"], s["z_action"]  # (S, k), (S, A)
        S, A, k = z_ac.shape[0], self.n_actions, G.shape[1]
        # Draws in float32 (the Monte Carlo error, ~1/sqrt(S), dwarfs its rounding; BLAS
        # runs several times faster). When rows have few eligible actions (candidates are
        # often a few dozen of hundreds of actions), only those are drawn: gathered, eligible
        # first, into E columns with E the most eligible actions of a row, the padding masked
        # out. An ineligible action never wins, so both paths give the same probabilities.
        f32 = np.float32
        z_sh, z_ac, G32 = z_sh.astype(f32), z_ac.astype(f32), G.astype(f32)
        logits, sd_action, shrink = logits.astype(f32), sd_action.astype(f32), shrink.astype(f32)
        if k:
            sd_shared = sd_shared.astype(f32)
        E = max(1, int(el.sum(axis=1).max()))
        counts = np.zeros((m, A))
        if 2 * E <= A:
            for rows, idx, noise, design, ok in _gathered_chunks(el, E, z_ac, G32):
                mean, sd, scale = (
                    np.take_along_axis(a[rows], idx, axis=1) for a in (logits, sd_action, shrink)
                )  # (rows, E) each
                draws = mean[:, None, :] + sd[:, None, :] * noise
                if k:
                    shared = sd_shared[rows, None, :] * z_sh[None, :, :]  # (rows, S, k)
                    draws += np.matmul(shared, design) * scale[:, None, :]
                np.copyto(draws, -np.inf, where=~ok[..., None, :])
                best = np.take_along_axis(idx, draws.argmax(axis=2), axis=1)  # (rows, S)
                flat = (np.arange(len(rows))[:, None] * A + best).ravel()
                counts[rows] = np.bincount(flat, minlength=len(rows) * A).reshape(-1, A)
        else:
            chunk = max(1, _DRAWS_PER_CHUNK // max(1, S * A))
            for lo in range(0, m, chunk):
                hi = min(m, lo + chunk)
                draws = logits[lo:hi, None, :] + sd_action[lo:hi, None, :] * z_ac[None, :, :]
                if k:
                    shared = (sd_shared[lo:hi, None, :] * z_sh[None, :, :]).reshape(-1, k)
                    draws += (shared @ G32.T).reshape(hi - lo, S, A) * shrink[lo:hi, None, :]
                np.copyto(draws, -np.inf, where=~el[lo:hi, None, :])
                best = draws.argmax(axis=2)  # (rows, S)
                flat = (np.arange(hi - lo)[:, None] * A + best).ravel()
                counts[lo:hi] = np.bincount(flat, minlength=(hi - lo) * A).reshape(hi - lo, A)
        ts = counts / S
        n_el = el.sum(axis=1, keepdims=True)
        probs = (1.0 - self.epsilon) * ts + self.epsilon * el / n_el
        probs[~el] = 0.0
        return probs / probs.sum(axis=1, keepdims=True)


def _gathered_chunks(
    el: np.ndarray, E: int, z_ac: np.ndarray, G32: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The rows of a batch in chunks of about `_DRAWS_PER_CHUNK` draws, each with its rows'
    eligible actions gathered first into E columns (rows, E), the Thompson noise (S, E) or
    (rows, S, E) and the action design (k, E) or (rows, k, E) of those columns, and which of
    them are eligible ((E,) or (rows, E); the padding is not).

    Rows with the same eligible actions share one gather when there are few such sets (a
    planning batch's accounts share a few candidate sets): the noise and design are gathered
    once per set. Otherwise (every row its own set, or one row) each row's are gathered."""
    m, S = el.shape[0], z_ac.shape[0]
    chunk = max(1, _DRAWS_PER_CHUNK // max(1, S * E))
    sets, of_row = (None, None)
    if m > 1:
        sets, of_row = np.unique(np.packbits(el, axis=1), axis=0, return_inverse=True)
    if sets is not None and 4 * len(sets) <= m:
        of_row = of_row.reshape(-1)
        by_set = np.argsort(of_row, kind="stable")
        bounds = np.searchsorted(of_row[by_set], np.arange(len(sets) + 1))
        for g in range(len(sets)):
            rows_g = by_set[bounds[g] : bounds[g + 1]]
            cols = np.argsort(~el[rows_g[0]], kind="stable")[:E]
            noise = np.ascontiguousarray(z_ac[:, cols])
            design = np.ascontiguousarray(G32[cols].T)
            ok = el[rows_g[0], cols]
            for lo in range(0, rows_g.size, chunk):
                rows = rows_g[lo : lo + chunk]
                yield rows, np.broadcast_to(cols, (rows.size, E)), noise, design, ok
        return
    order = np.argsort(~el, axis=1, kind="stable")[:, :E]  # (m, E) column indices
    for lo in range(0, m, chunk):
        rows = np.arange(lo, min(m, lo + chunk))
        idx = order[rows]
        noise = np.ascontiguousarray(z_ac.T[idx].transpose(0, 2, 1))
        design = np.ascontiguousarray(G32[idx].transpose(0, 2, 1))
        yield rows, idx, noise, design, np.take_along_axis(el[rows], idx, axis=1)


def _argmax_probabilities(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Uniform over the eligible actions whose score ties the best one."""
    masked = np.where(eligible, scores, -np.inf)
    best = masked.max(axis=1, keepdims=True)
    tol = 1e-9 * np.maximum(1.0, np.abs(best))
    top = eligible & (masked >= best - tol)
    return top / top.sum(axis=1, keepdims=True)
