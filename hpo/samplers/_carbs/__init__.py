"""CARBS' private pieces (Fetterman et al. 2023, "Tune As You Scale"); the sampler is
:class:`hpo.samplers.CARBS`.

* :mod:`._spaces`: the basic-space transforms (linear, log, logit) of each parameter;
* :mod:`._pareto`: grouping of repeated points and the (conservative) Pareto groups;
* :mod:`._candidates`: samples around origins, their prior density, validity;
* :mod:`._models`: the output, cost, Pareto and success models on :mod:`hpo.surrogates`;
* :mod:`._scaling`: the (performance, cost) front and power laws along it.
"""
