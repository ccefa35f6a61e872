"""The offline learning-curve benchmark ground (one module for every multi-fidelity and
PBT benchmark): stored learning-curve tables, synthetic multi-fidelity functions, and a
simulated multi-worker backend.  See docs/lc_ground.md.

Scripts and tests import it as ``benchmarks.lcground``; the ``hpo`` library
never imports it.
"""

from .problems import (
    DATA,
    Curve,
    Problem,
    SyntheticProblem,
    Table,
    TableProblem,
    get_problem,
    list_problems,
    load_table,
)
from .sim import Job, OptunaPolicy, Policy, SimResult, Simulator, Spec, simulate, suggest_all

__all__ = ["DATA", "Curve", "Job", "OptunaPolicy", "Policy", "Problem", "SimResult", "Simulator",
           "Spec",
           "SyntheticProblem", "Table", "TableProblem", "get_problem", "list_problems",
           "load_table", "simulate", "suggest_all"]
