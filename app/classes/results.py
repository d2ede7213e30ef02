"""The class's experiment read off its runs: the students ranked by held-out loss, and the
mean held-out loss of each value of the varied setting (what the class chart's legend and the
projector show)."""

from dataclasses import dataclass
from statistics import fmean

from app.contract.classes import MemberOut


@dataclass(frozen=True)
class GroupMean:
    value: object  # a value of the varied setting
    mean: float | None  # the mean latest held-out loss of its students who have one
    n: int  # its students
    measured: int  # of them, those with a held-out loss yet


def ranking(members: list[MemberOut]) -> list[MemberOut]:
    """The students with a held-out loss, lowest (best) first; ties by name."""
    measured = [m for m in members if m.val is not None]
    return sorted(measured, key=lambda m: (m.val, m.name.casefold()))


def group_means(members: list[MemberOut], values: list) -> list[GroupMean]:
    """Per value of the varied setting (in the teacher's order), its students' mean held-out
    loss."""
    groups = []
    for value in values:
        mine = [m for m in members if m.value == value]
        vals = [m.val for m in mine if m.val is not None]
        groups.append(GroupMean(value, fmean(vals) if vals else None, len(mine), len(vals)))
    return groups
