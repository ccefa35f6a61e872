"""hpo's benchmark harnesses (not part of the ``hpo`` package, which never imports them).

A package so that the scripts and the tests import each other by name
(``benchmarks.lcground``, ``benchmarks.gp_problems``, ``benchmarks._common``); run a
script from the repository root as ``python -m benchmarks.NAME``. Nothing is imported
here: several scripts pin their thread counts before numpy or torch is first loaded.
"""
