"""The one table of our own the layout needs: the record of each split or move.

Which partitions exist, their bounds and servers is PostgreSQL's catalog; this row is
the truth about an operation in flight (how far its copy got, whether it switched), so
that running the command again after any crash finishes it from the database alone.
"""

from __future__ import annotations

from django.db import models


class Reshard(models.Model):
    """One split or move of a ``predictions`` partition, from its plan to its end."""

    class Kind(models.TextChoices):
        SPLIT = "split", "Split"
        MOVE = "move", "Move"

    class State(models.TextChoices):
        # Before the switch-over the source partition serves everything.
        COPYING = "copying", "Copying"
        CATCHING_UP = "catching_up", "Catching up"
        # The new partitions are attached; the source is detached and frozen.
        SWITCHED = "switched", "Switched"
        VERIFIED = "verified", "Verified"
        DONE = "done", "Done (source dropped)"
        ABORTED = "aborted", "Aborted"

    UNFINISHED = (State.COPYING, State.CATCHING_UP, State.SWITCHED)

    kind = models.CharField(max_length=8, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.COPYING)
    # The partition being split or moved, as the catalog named it when the plan was made.
    source_table = models.CharField(max_length=63)
    source_modulus = models.PositiveIntegerField()
    source_remainder = models.PositiveIntegerField()
    source_location = models.CharField(max_length=63)
    source_remote_table = models.CharField(max_length=63, blank=True)
    destination = models.CharField(max_length=63)
    # [{"table", "modulus", "remainder", "location"}] of the partitions that replace it.
    targets = models.JSONField(default=list)
    # The copy's keyset position: every source row up to (task_id, id) is copied.
    cursor_task_id = models.BigIntegerField(null=True, blank=True)
    cursor_id = models.BigIntegerField(null=True, blank=True)
    rows_copied = models.BigIntegerField(default=0)
    tasks_replayed = models.BigIntegerField(default=0)
    switch_ms = models.FloatField(null=True, blank=True)
    source_rows = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    switched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return (
            f"{self.kind} #{self.pk} of {self.source_remainder} of {self.source_modulus} "
            f"({self.source_location} -> {self.destination}, {self.state})"
        )

    @property
    def staging_table(self) -> str:
        return f"predictions_reshard_{self.pk}"

    @property
    def log_table(self) -> str:
        return f"predictions_reshard_{self.pk}_log"
