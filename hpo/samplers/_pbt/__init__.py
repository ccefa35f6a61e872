"""Population-based training's private pieces; the samplers are :class:`hpo.samplers.PBT`,
:class:`hpo.samplers.PB2` and :class:`hpo.samplers.MOPBT`.

* :mod:`._population`: members read from the study (segments, score, state);
* :mod:`._explore`: perturbation and resampling inside the distributions;
* :mod:`._base`: the population shell on :mod:`hpo.samplers._continuing`: exploit at
  equal resource, waits, checkpoint removal.
"""
