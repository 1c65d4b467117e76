"""What the recommender stores: debtor typologies, trained models and logged decisions.

- `DebtorTypology`: the four behavioural scores and type code of a debtor (one row each),
  recomputed by `recommender.services.typology_refresh` (nightly task) and read as features.
- `ModelVersion`: one trained policy: its artifact (an `.npz` archive written by
  `recommender.learning.Policy.to_bytes`, read back without pickle), what it was trained on
  and how it evaluated. At most one is `live`; state changes are model methods.
- `Decision`: the learner's log row for one planned message: the context vector at decision
  time, the eligible archetypes, the chosen one and its logging propensity. The reward is read
  from the message (converted or not) when retraining. The message itself carries the
  decision record everybody else reads (arm, propensity, model version, explanation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import DomainError, TransitionError
from accounts.transitions import StateMachine
from messaging.models import Arm
from recommender.typology import describe


class DebtorTypology(models.Model):
    """A debtor's behavioural type: four scores in [-1, 1] and a four-letter code."""

    debtor = models.OneToOneField(
        "accounts.Debtor", on_delete=models.CASCADE, primary_key=True, related_name="typology"
    )
    willing = models.FloatField(default=0.0, help_text="+1 willing to pay ... -1 defiant.")
    able = models.FloatField(default=0.0, help_text="+1 able to pay ... -1 insolvent.")
    organised = models.FloatField(default=0.0, help_text="+1 organised ... -1 chaotic.")
    emotional = models.FloatField(default=0.0, help_text="+1 emotional ... -1 rational.")
    confidence = models.FloatField(default=0.0, help_text="0 (no evidence) ... 1.")
    code = models.CharField(max_length=4, help_text="W/D, A/I, O/C, E/R.")
    evidence = models.JSONField(default=dict, blank=True, help_text="Counts the scores used.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "debtor typology"
        verbose_name_plural = "debtor typologies"
        indexes = [models.Index(fields=["code"])]

    def __str__(self) -> str:
        return f"{self.code} ({self.confidence:.0%} confidence)"

    @property
    def description(self) -> str:
        return describe(self.code)


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", _("Candidate")
    LIVE = "live", _("Live")
    RETIRED = "retired", _("Retired")
    REJECTED = "rejected", _("Rejected (worse than live)")


MODEL_TRANSITIONS: dict[str, frozenset[str]] = {
    ModelStatus.CANDIDATE: frozenset({ModelStatus.LIVE, ModelStatus.REJECTED}),
    ModelStatus.LIVE: frozenset({ModelStatus.RETIRED}),
    # A retired or rejected model can be put back (a rollback, or an operator's override).
    ModelStatus.RETIRED: frozenset({ModelStatus.LIVE}),
    ModelStatus.REJECTED: frozenset({ModelStatus.LIVE}),
}


MODEL_MACHINE = StateMachine(
    edges=MODEL_TRANSITIONS,
    choices=ModelStatus,
    error=TransitionError,
    refused="A {old} model cannot become {new}.",
    unknown="Unknown model status {new!r}.",
)


class ArtifactError(DomainError):
    """A stored model artifact that cannot be used (corrupt, other format, other features)."""


class ModelVersion(models.Model):
    """One trained policy and its evaluation. `label` is what messages record."""

    label = models.CharField(max_length=64, unique=True)
    status = models.CharField(
        max_length=10, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE
    )
    feature_version = models.PositiveSmallIntegerField()
    n_actions = models.PositiveIntegerField()
    n_features = models.PositiveIntegerField()
    trained_at = models.DateTimeField(default=timezone.now)
    rows_used = models.PositiveIntegerField(help_text="Logged decisions the model was fit on.")
    data_from = models.DateTimeField(null=True, blank=True)
    data_until = models.DateTimeField(
        null=True, blank=True, help_text="Latest decision time in the training logs."
    )
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Holdout log-loss, off-policy values (vs random, vs live) with intervals.",
    )
    artifact = models.BinaryField(help_text="Policy.to_bytes() (.npz, no pickle).")
    artifact_sha256 = models.CharField(max_length=64)
    created_by = models.CharField(max_length=100, default="system")
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-trained_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="live"), name="modelversion_one_live"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_status_display()})"

    # What `transition` changes, saved by `accounts.transitions.transition_save`: the row
    # is its own audit (the reason and the dates of promotion and retirement).
    STATE_FIELDS = ("status", "status_reason", "promoted_at", "retired_at")

    def transition(self, status: str, *, reason: str = "") -> str:
        """Move to `status` in memory, or raise `TransitionError`; returns the old status."""
        MODEL_MACHINE.check(self.status, status)
        old, now = self.status, timezone.now()
        self.status = status
        self.status_reason = reason[:300]
        if status == ModelStatus.LIVE:
            self.promoted_at, self.retired_at = now, None
        elif status == ModelStatus.RETIRED:
            self.retired_at = now
        return old


class Decision(models.Model):
    """The learner's log row for one planned message (one row per message)."""

    message = models.OneToOneField(
        "messaging.Message", on_delete=models.CASCADE, related_name="decision"
    )
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    debtor = models.ForeignKey("accounts.Debtor", on_delete=models.CASCADE, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    arm = models.CharField(max_length=10, choices=Arm.choices)
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    feature_version = models.PositiveSmallIntegerField()
    stage = models.CharField(max_length=20, blank=True)
    action = models.PositiveIntegerField(help_text="Index of the chosen archetype.")
    propensity = models.FloatField(
        help_text="Probability the logging policy (control share + policy) gave this archetype."
    )
    candidates = models.PositiveIntegerField(help_text="Eligible (variant, time) candidates.")
    context = models.BinaryField(help_text="float32 context vector at decision time.")
    eligible = models.BinaryField(help_text="Packed bits: which archetypes were eligible.")

    class Meta:
        indexes = [models.Index(fields=["feature_version", "decided_at", "id"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(propensity__gt=0, propensity__lte=1),
                name="decision_propensity_in_0_1",
            )
        ]

    def __str__(self) -> str:
        return f"Decision {self.pk} ({self.arm}) for message {self.message_id}"

    @staticmethod
    def pack_context(x: np.ndarray) -> bytes:
        return np.asarray(x, dtype="<f4").tobytes()

    @staticmethod
    def pack_eligible(mask: np.ndarray) -> bytes:
        return np.packbits(np.asarray(mask, dtype=bool)).tobytes()

    @staticmethod
    def unpack_context(data: bytes, n_features: int) -> np.ndarray:
        return np.frombuffer(bytes(data), dtype="<f4", count=n_features).astype(np.float64)

    @staticmethod
    def unpack_eligible(data: bytes, n_actions: int) -> np.ndarray:
        bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
        return bits[:n_actions].astype(bool)

    @staticmethod
    def unpack_contexts(blobs: Sequence[bytes], n_features: int) -> np.ndarray:
        """`unpack_context` of many rows at once, as float32 (rows, n_features)."""
        return _joined(blobs, "<f4", n_features).reshape(-1, n_features)

    @staticmethod
    def unpack_eligibles(blobs: Sequence[bytes], n_actions: int) -> np.ndarray:
        """`unpack_eligible` of many rows at once, (rows, n_actions)."""
        width = (n_actions + 7) // 8
        bits = _joined(blobs, np.uint8, width).reshape(len(blobs), width)
        return np.unpackbits(bits, axis=1)[:, :n_actions].astype(bool)


def _joined(blobs: Sequence[bytes], dtype: Any, count: int) -> np.ndarray:
    """The first `count` items of each blob, end to end; ValueError for a shorter blob, as
    `np.frombuffer(..., count=count)` raises for one."""
    size = count * np.dtype(dtype).itemsize
    joined = b"".join(bytes(b)[:size] for b in blobs)
    if len(joined) != size * len(blobs):
        raise ValueError(f"a stored decision holds fewer than {count} items of {dtype}")
    return np.frombuffer(joined, dtype=dtype)
