"""Draws of a block of patients: per purpose, vectors of uniforms turned into times by inverse CDF."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.engine.streams import Streams
from sim.spec.distributions import ppf_truncated

if TYPE_CHECKING:
    from sim.engine.plans import Plan

__all__ = ["Column", "Course", "Draws", "Names", "column", "course_names"]


Column = Sequence[Any]
"""A block's vector as the patient process reads it, one patient at a time: a read-only memoryview of
the numpy result, whose items read as Python floats (or bools), as a list's would. A course's draws
cover every patient of the block, but only those who start the course and reach the event read them
(about a fifth of the items in scenarios/low_dose.yaml): a view makes no Python object for the
others (a list of 500 floats costs about 8 microseconds to make and free; reading a view's item,
about 0.01 more than a list's)."""


def column(values: np.ndarray) -> Column:
    """``values`` as a column."""
    return memoryview(values)  # type: ignore[arg-type]  # (numpy arrays are buffers)


class Draws:
    """Per-block draws as columns indexed by patient, derived lazily by purpose."""

    __slots__ = ("_streams", "_lists", "courses")

    def __init__(self, streams: Streams):
        self._streams = streams
        self._lists: dict[Any, Column] = {}
        self.courses: dict[tuple[Any, ...], Course] = {}

    def close(self) -> None:
        """Drop the block's draws (courses refer back to this object)."""
        self._lists.clear()
        self.courses.clear()

    def below(self, purpose: str, probability: float) -> Column:
        """Whether each patient's uniform for ``purpose`` is below ``probability``."""
        return column(self._streams.uniforms(purpose) < probability)

    def uniforms(self, purpose: str) -> np.ndarray:
        return self._streams.uniforms(purpose)

    def times_array(self, purpose: str, spec: Any, upper: float | None = None) -> np.ndarray:
        return ppf_truncated(spec, self._streams.uniforms(purpose), upper)

    def times(self, purpose: str, spec: Any, upper: float | None = None) -> Column:
        # Keyed by the spec object: plans hold their specs for the block's lifetime.
        key = (purpose, id(spec), upper)
        values = self._lists.get(key)
        if values is None:
            values = column(self.times_array(purpose, spec, upper))
            self._lists[key] = values
        return values

    def exponential(self, purpose: str, mean_weeks: float) -> Column:
        key = (purpose, "exp", mean_weeks)
        values = self._lists.get(key)
        if values is None:
            u = self._streams.uniforms(purpose)
            values = column(-mean_weeks * np.log1p(-u))
            self._lists[key] = values
        return values

    def new_course(self, key: tuple[Any, ...]) -> Course:
        """Draw a course for the whole block and keep it in ``courses``: the key is (plan, the
        course's ordinal in the patient's pathway, whether it is the plan's first course), and for a
        plan with first-course-only adverse events, whether it is the patient's first course of the drug."""
        plan, ordinal, first = key[:3]
        first_of_drug = key[3] if len(key) > 3 else True
        course = self.courses[key] = Course(self, plan, course_names(ordinal), first, first_of_drug)
        return course


class Course:
    """The draws of one course (a plan at a course ordinal) for every patient of a block.

    What every course needs (response, its time, complete response, adverse events and their
    onsets) is drawn at once; the rest (relapse times, taper and stop rules) on first use, as columns
    indexed by patient; the uniform for discontinuing after an adverse event, by kind of event.

    A patient's adverse events in a course are kept in the order they would happen: by onset from
    the start of the course, the lower index first on equal onsets. ``first_onset[j]`` is the first
    one's onset (infinity if none occurs); ``adverse_event(j, k)`` gives the k-th as (onset, index),
    read only for the few patients who have more than one during a course.
    """

    __slots__ = ("_draws", "_plan", "_names", "responds", "time_to_response", "completes", "first_onset",
                 "_onsets", "_order", "on_treatment", "time_to_complete", "after_taper", "after_taper_time",
                 "after_stop", "after_stop_time", "_discontinue", "first_of_drug", "on_reduced",
                 "escalation_responds", "escalation_time", "_irreversible", "exposure_start", "_exposure_levels")

    def __init__(self, draws: Draws, plan: Plan, names: Names, first: bool, first_of_drug: bool = True):
        self._draws = draws
        self._plan = plan
        self._names = names
        self._discontinue: dict[int, np.ndarray] = {}
        self._irreversible: dict[int, np.ndarray] = {}
        self._exposure_levels: dict[str, tuple[Column | None, ...]] = {}
        self.first_of_drug = first_of_drug
        self.responds = draws.below(names.response, plan.p_response if first else plan.p_retreat)
        self.time_to_response = draws.times(names.time_to_response, plan.time_to_response, plan.assessment_week)
        self.completes = draws.below(names.complete, plan.p_complete)
        # Events that follow the dose are not drawn here (see engine/exposure.py); an event of the
        # first course of the drug only is left out of later courses.
        possible = [(index, ae_name, p_occurs, onset) for index, ae_name, p_occurs, onset, first_only
                    in plan.course_events if p_occurs > 0 and (first_of_drug or not first_only)]
        if not possible:
            self.first_onset: Column = [math.inf] * len(self.responds)
            self._onsets = self._order = None
            return
        uniforms, times = draws.uniforms, draws.times_array
        # An event certain to occur (the hazard shorthand: every uniform is below 1) needs no draw of whether it does.
        columns = [times(names.ae(ae_name)[1], onset) if p_occurs >= 1.0
                   else np.where(uniforms(names.ae(ae_name)[0]) < p_occurs, times(names.ae(ae_name)[1], onset), np.inf)
                   for _, ae_name, p_occurs, onset in possible]
        if len(columns) == 1:  # nothing to order
            self._onsets = columns[0][:, None]
            self._order = np.full((len(columns[0]), 1), possible[0][0])
            self.first_onset = column(columns[0])
            return
        indices = np.array([index for index, _, _, _ in possible])
        if len(columns) == 2:  # one comparison orders two events (the lower index first on ties)
            later = columns[1] < columns[0]
            earliest = np.where(later, columns[1], columns[0])
            # (Transposed arrays: the rows are only read item by item.)
            self._onsets = np.array([earliest, np.where(later, columns[0], columns[1])]).T
            self._order = np.where(later[:, None], indices[::-1], indices)
            self.first_onset = column(earliest)
            return
        onsets = np.array(columns).T
        order = onsets.argsort(axis=1, kind="stable")  # stable: the lower index first on ties
        self._onsets = np.take_along_axis(onsets, order, axis=1)
        self._order = indices[order]
        self.first_onset = column(self._onsets[:, 0])

    def adverse_event(self, j: int, k: int) -> tuple[float, int]:
        """Patient j's k-th adverse event of the course (from 0): (onset, index); onset is infinity
        past the last."""
        onsets, order = self._onsets, self._order
        if onsets is None or order is None or k >= onsets.shape[1]:
            return math.inf, -1
        return onsets.item(j, k), order.item(j, k)

    def discontinue_uniform(self, index: int, j: int) -> float:
        """Patient j's uniform for discontinuing after adverse event ``index``: drawn for the block
        at the first adverse event of that kind in the course."""
        uniforms = self._discontinue.get(index)
        if uniforms is None:
            uniforms = self._draws.uniforms(self._names.ae(self._plan.adverse_events[index][1])[2])
            self._discontinue[index] = uniforms
        return uniforms.item(j)

    def irreversible_uniform(self, index: int, j: int) -> float:
        """Patient j's uniform for permanent harm from adverse event ``index`` in this course."""
        uniforms = self._irreversible.get(index)
        if uniforms is None:
            uniforms = self._draws.uniforms(self._names.irreversible(self._plan.adverse_events[index][1]))
            self._irreversible[index] = uniforms
        return uniforms.item(j)

    def exposure_at(self, level: str, mg_per_week: float | None) -> tuple[Column | None, ...]:
        """Per event of ``plan.dynamic``: for a hazard that scales with the dose, the weeks to the event
        from entering dose level ``level`` at ``mg_per_week``, redrawn from the hazard at that dose with a
        draw of its own for the level (memoryless); None for a cumulative-dose event."""
        offsets = self._exposure_levels.get(level)
        if offsets is None:
            plan: Any = self._plan
            found: list[Column | None] = []
            for exposure in plan.dynamic:
                if exposure.cumulative:
                    found.append(None)
                    continue
                factor = ((mg_per_week or 0.0) / exposure.full_mg_per_week) ** exposure.exponent
                purpose = self._names.onset_at(exposure.name, level)
                if factor <= 0.0:
                    found.append([math.inf] * len(self.responds))
                else:
                    unit = -np.log1p(-self._draws.uniforms(purpose))
                    found.append(column(unit * (exposure.mean_weeks / factor)))
            offsets = self._exposure_levels[level] = tuple(found)
        return offsets

    def __getattr__(self, name: str) -> Any:
        # Called only for a lazy slot not yet filled (and only for the rules the plan has): draw it, keep it.
        draws, names = self._draws, self._names
        plan: Any = self._plan
        if name == "on_treatment":
            value: Any = draws.exponential(names.on_treatment, plan.on_treatment_mean)
        elif name == "time_to_complete":
            value = draws.times(names.time_to_complete, plan.time_to_complete)
        elif name == "after_taper":  # whether the patient relapses after a taper
            value = draws.below(names.after_taper, plan.after_taper[0])
        elif name == "after_taper_time":
            value = draws.times(names.after_taper_time, plan.after_taper[1])
        elif name == "after_stop":  # whether the patient relapses after stopping
            value = draws.below(names.after_stop, plan.after_stop[0])
        elif name == "after_stop_time":
            value = draws.times(names.after_stop_time, plan.after_stop[1])
        elif name == "on_reduced":
            value = draws.exponential(names.on_reduced, plan.on_reduced_mean)
        elif name == "escalation_responds":  # whether a non-responder responds after escalation
            value = draws.below(names.escalation_response, plan.p_escalation)
        elif name == "escalation_time":
            value = draws.times(names.escalation_time, plan.time_to_response, plan.escalation_window)
        elif name == "exposure_start":
            # Per event of plan.dynamic: the patient's threshold in mg of the drug (drawn once per patient and
            # drug, by the drug's name), or the weeks to the event at the full dose (the same draw as an event
            # that does not follow the dose, purpose ae.NAME.onset).
            value = tuple(
                column(draws.times_array(e.threshold_purpose, e.threshold) * 1000.0) if e.cumulative
                else draws.times(names.ae(e.name)[1], plan.adverse_events[e.index][3])
                for e in plan.dynamic)
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value


class Names:
    """Stream names of one course ordinal: every draw of that course has its own purpose."""

    __slots__ = ("prefix", "response", "time_to_response", "complete", "time_to_complete", "on_treatment",
                 "after_taper", "after_taper_time", "after_stop", "after_stop_time", "_ae", "on_reduced",
                 "escalation_response", "escalation_time")

    def __init__(self, course: int):
        prefix = f"c{course}."
        self.prefix = prefix
        self.response = prefix + "response"
        self.time_to_response = prefix + "time_to_response"
        self.complete = prefix + "complete"
        self.time_to_complete = prefix + "time_to_complete"
        self.on_treatment = prefix + "relapse.on_treatment"
        self.after_taper = prefix + "relapse.after_taper"
        self.after_taper_time = prefix + "relapse.after_taper.time"
        self.after_stop = prefix + "relapse.after_stop"
        self.after_stop_time = prefix + "relapse.after_stop.time"
        self.on_reduced = prefix + "relapse.on_reduced"
        self.escalation_response = prefix + "escalation.response"
        self.escalation_time = prefix + "escalation.time_to_response"
        self._ae: dict[str, tuple[str, str, str]] = {}

    def ae(self, name: str) -> tuple[str, str, str]:
        """Purposes of an adverse event: (occurs, onset, discontinue)."""
        names = self._ae.get(name)
        if names is None:
            base = f"{self.prefix}ae.{name}."
            names = (base + "occurs", base + "onset", base + "discontinue")
            self._ae[name] = names
        return names

    def irreversible(self, name: str) -> str:
        """Purpose of the draw that makes an adverse event's harm permanent."""
        return f"{self.prefix}ae.{name}.irreversible"

    def onset_at(self, name: str, level: str) -> str:
        """Purpose of an adverse event's time redrawn on entering a dose level of the course."""
        return f"{self.prefix}ae.{name}.onset.{level}"


_NAMES: dict[int, Names] = {}


def course_names(course: int) -> Names:
    names = _NAMES.get(course)
    if names is None:
        names = _NAMES[course] = Names(course)
    return names
