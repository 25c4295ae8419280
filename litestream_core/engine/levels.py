"""Compaction levels and the wall-clock schedule they run on, as Go Litestream 0.5 has them.

Level 0 holds one LTX file per sync; level N (1..8) merges level N-1 every interval;
level 9 holds full snapshots. Runs are aligned to multiples of the interval since the
Unix epoch (Go's ``now.Truncate(interval)``), so every process replicating the same
database, and a process restarted mid-interval, agree on when a level is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from litestream_core.client import SNAPSHOT_LEVEL
from litestream_core.errors import ConfigError

DEFAULT_LEVEL_INTERVALS: tuple[float, ...] = (30.0, 300.0, 3600.0)
"""Intervals of L1, L2 and L3 in seconds (Go's ``DefaultCompactionLevels``)."""

DEFAULT_SNAPSHOT_INTERVAL = 24 * 3600.0
DEFAULT_SNAPSHOT_RETENTION = 24 * 3600.0
DEFAULT_L0_RETENTION = 300.0
DEFAULT_L0_RETENTION_CHECK_INTERVAL = 15.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CompactionSettings:
    """Everything the compactor needs from the config's top-level keys.

    ``level_intervals[i]`` is the interval of level ``i + 1`` (the ``levels:`` list
    without its level-0 entry); 0 for ``l0_retention`` disables L0 pruning, as in Go.
    """

    level_intervals: tuple[float, ...] = field(default=DEFAULT_LEVEL_INTERVALS)
    snapshot_interval: float = DEFAULT_SNAPSHOT_INTERVAL
    snapshot_retention: float = DEFAULT_SNAPSHOT_RETENTION
    l0_retention: float = DEFAULT_L0_RETENTION
    l0_retention_check_interval: float = DEFAULT_L0_RETENTION_CHECK_INTERVAL
    retention_enabled: bool = True
    verify_compaction: bool = False
    """After each compaction, check the level it wrote is TXID-contiguous (a warning
    and ``litestream_compaction_verify_error_count`` if not), as Go's option."""

    def __post_init__(self) -> None:
        if len(self.level_intervals) > SNAPSHOT_LEVEL - 1:
            raise ConfigError(f"compaction level cannot exceed {SNAPSHOT_LEVEL - 1}")
        for level, interval in enumerate(self.level_intervals, start=1):
            if not interval > 0:
                raise ConfigError(f"interval required for compaction level {level}")
        if not self.snapshot_interval > 0:
            raise ConfigError("snapshot interval must be greater than zero")
        if self.snapshot_retention < 0:
            raise ConfigError("snapshot retention cannot be negative")
        if self.l0_retention < 0:
            raise ConfigError("l0-retention cannot be negative")
        if self.l0_retention_check_interval < 0:
            raise ConfigError("l0-retention-check-interval cannot be negative")

    @property
    def max_level(self) -> int:
        """The highest compaction level below the snapshot level (0 if none)."""
        return len(self.level_intervals)

    def interval(self, level: int) -> float:
        """Seconds between runs of ``level`` (1..max_level or the snapshot level)."""
        if level == SNAPSHOT_LEVEL:
            return self.snapshot_interval
        if not 1 <= level <= self.max_level:
            raise ValueError(f"no compaction level {level}")
        return self.level_intervals[level - 1]

    def scheduled_levels(self) -> list[int]:
        """Every level that runs on a schedule: 1..max_level, then the snapshot level."""
        return [*range(1, self.max_level + 1), SNAPSHOT_LEVEL]

    def source_level(self, level: int) -> int:
        """The level ``level`` merges from (Go's ``PrevLevel``)."""
        return self.max_level if level == SNAPSHOT_LEVEL else level - 1


def prev_compaction_at(now: datetime, interval: float) -> datetime:
    """The latest multiple of ``interval`` since the epoch at or before ``now``."""
    micros = round(interval * 1_000_000)
    elapsed = (now - _EPOCH) // timedelta(microseconds=1)
    return _EPOCH + timedelta(microseconds=elapsed - elapsed % micros)


def next_compaction_at(now: datetime, interval: float) -> datetime:
    """When ``interval``'s next aligned run is due (strictly after ``now``'s slot)."""
    return prev_compaction_at(now, interval) + timedelta(seconds=interval)


class _CompactionConfig(Protocol):
    """The top-level keys of a parsed config (``config.Config``) the compactor reads."""

    @property
    def levels(self) -> tuple[float, ...]: ...
    @property
    def snapshot_interval(self) -> float: ...
    @property
    def snapshot_retention(self) -> float: ...
    @property
    def l0_retention(self) -> float: ...
    @property
    def l0_retention_check_interval(self) -> float: ...
    @property
    def retention_enabled(self) -> bool: ...
    @property
    def verify_compaction(self) -> bool: ...


def settings_from_config(config: _CompactionConfig) -> CompactionSettings:
    """The compactor's settings from a parsed config file."""
    return CompactionSettings(
        level_intervals=tuple(config.levels),
        snapshot_interval=config.snapshot_interval,
        snapshot_retention=config.snapshot_retention,
        l0_retention=config.l0_retention,
        l0_retention_check_interval=config.l0_retention_check_interval,
        retention_enabled=config.retention_enabled,
        verify_compaction=config.verify_compaction,
    )
