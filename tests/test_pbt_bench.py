"""Smoke test of benchmarks/pbt_bench.py: the toy and MO parts on one seed, no Ray, no PPO
(the full --quick mode takes about 2.5 minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")


def test_toy_and_mo_parts_run_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import pbt_bench as pb

    monkeypatch.setattr(pb, "DOC", tmp_path / "pbt_benchmarks.md")
    toy = pb.toy_part([0], ray_on=False, quick=True)
    assert {"hpo-pbt", "hpo-pb2", "random", "fixed"} <= set(toy["runs"])
    pbt = toy["runs"]["hpo-pbt"]["0"]
    assert pbt["steps_trained"] == pb.TOY_POP * pb.pp.MAX_STEPS  # every member trains 0..40
    assert pbt["timing"]["exploit"]["ask_s"]  # exploit decisions were timed
    body = pb.toy_report(toy, None, tmp_path / "pbt_toy.png", 1.0)
    assert "hpo PBT" in body and (tmp_path / "pbt_toy.png").exists()

    mo = pb.mo_part([0])
    assert all(0 < r["0"]["hv"] <= 2.4 for r in mo["runs"].values())
    pb.write_section("pbt-mo", pb.mo_report(mo, tmp_path / "pbt_mo.png", 1.0))
    assert "<!-- pbt-mo:start -->" in (tmp_path / "pbt_benchmarks.md").read_text()
