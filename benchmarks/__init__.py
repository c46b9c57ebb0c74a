"""popstransport's benchmark suite.

A package in the airspeed velocity layout (``asv.conf.json`` beside this file): ``bench_advection`` and
``bench_model`` hold the ``time_*``, ``peakmem_*``, ``track_*`` and ``timeraw_*`` benchmarks that asv discovers.
``run.py``, ``bench_model.py`` and ``deformational.py`` are also quick runners (``python benchmarks/run.py
--quick``) that write JSON with the machine, versions and thread count; their helpers carry no asv prefix.
"""
