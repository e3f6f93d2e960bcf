"""Trial designs: what a valid design is, and clear errors for the ones that are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from jumeau.errors import JumeauError
from jumeau.trials import Arm, Endpoint, TrialDesign


def two_arms(**treated: object) -> list[Arm]:
    return [Arm(name="placebo", control=True), Arm(name="drug", **treated)]


def test_arm_sizes_follow_the_ratio_and_add_up() -> None:
    design = TrialDesign(
        arms=[Arm(name="c", control=True), Arm(name="a", ratio=2), Arm(name="b", ratio=2)],
        sample_size=101,
        endpoint=Endpoint(outcome="y"),
        analyses=["unadjusted"],
    )
    sizes = design.arm_sizes()
    assert sum(sizes.values()) == 101
    assert sizes["a"] in (40, 41) and sizes["c"] in (20, 21)
    assert [arm.name for arm in design.treated] == ["a", "b"]


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ([Arm(name="a"), Arm(name="b")], "exactly one arm must be the control"),
        ([Arm(name="a", control=True), Arm(name="a")], "unique"),
        ([Arm(name="a", control=True, shift=1), Arm(name="b")], "cannot carry an effect"),
        ([Arm(name="a", control=True), Arm(name="b", hazard_ratio=0.7)], "time-to-event"),
    ],
)
def test_invalid_arms_are_refused(arms: list[Arm], message: str) -> None:
    with pytest.raises(JumeauError, match=message):
        TrialDesign.from_dict(
            {
                "arms": [a.model_dump() for a in arms],
                "sample_size": 100,
                "endpoint": {"outcome": "y"},
                "analyses": ["unadjusted"],
            }
        )


def test_effect_measure_must_match_the_endpoint() -> None:
    with pytest.raises(ValueError, match="risk_difference"):
        TrialDesign(
            arms=two_arms(shift=1.0),
            sample_size=100,
            endpoint=Endpoint(kind="responder", outcome="y"),
            analyses=["unadjusted"],
        )
    with pytest.raises(ValueError, match="hazard_ratio"):
        TrialDesign(
            arms=two_arms(shift=1.0),
            sample_size=100,
            endpoint=Endpoint(kind="time_to_event", outcome="t", event="e"),
            analyses=["unadjusted"],
        )


def test_ancova_without_anything_to_adjust_for_is_refused() -> None:
    with pytest.raises(ValueError, match="ANCOVA needs covariates"):
        TrialDesign(arms=two_arms(shift=1.0), sample_size=100, analyses=["ancova"])


def test_bad_inclusion_criterion_is_refused() -> None:
    with pytest.raises(Exception, match="inclusion criterion"):
        TrialDesign(
            arms=two_arms(shift=1.0), sample_size=100, inclusion=["age >"], analyses=["unadjusted"]
        )


def test_null_removes_every_effect_and_with_effect_sets_them() -> None:
    design = TrialDesign(
        arms=two_arms(hazard_ratio=0.6),
        sample_size=100,
        endpoint=Endpoint(kind="time_to_event", outcome="t", event="e"),
        analyses=["unadjusted"],
    )
    assert all(not arm.has_effect() for arm in design.null().arms)
    assert design.with_effect(0.8).treated[0].hazard_ratio == 0.8
    assert design.effect_measure() == "hazard_ratio"


def test_twin_null_gives_every_arm_the_control_regimen() -> None:
    design = TrialDesign(
        arms=[Arm(name="placebo", control=True), Arm(name="drug", regimen="10 mg q24h x30")],
        sample_size=100,
        endpoint=Endpoint(baseline="score", at=720.0),
        analyses=["unadjusted"],
    )
    assert design.null().treated[0].regimen is None
    with pytest.raises(JumeauError, match="regimen"):
        design.with_effect(1.0)


def test_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "design.yaml"
    path.write_text(
        "arms:\n  - {name: placebo, control: true}\n  - {name: drug, shift: 2.5}\n"
        "sample_size: 120\nendpoint: {outcome: y, baseline: y0}\n"
    )
    design = TrialDesign.from_yaml(path)
    assert design.treated[0].shift == 2.5 and design.endpoint.baseline == "y0"
    path.write_text("arms: [\n")
    with pytest.raises(JumeauError, match="not valid YAML"):
        TrialDesign.from_yaml(path)
    path.write_text("arms:\n  - {name: placebo, control: true}\nsample_size: 120\n")
    with pytest.raises(JumeauError, match="arms"):
        TrialDesign.from_yaml(path)
    with pytest.raises(JumeauError, match="no trial design"):
        TrialDesign.from_yaml(tmp_path / "missing.yaml")
