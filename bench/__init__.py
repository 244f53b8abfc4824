"""The benchmark harness of issue 4: the real collector against the simulator.

``python -m bench`` (or ``bench/run``) runs scenarios S1 to S8 on 127.0.0.1, pins the
collector to CPU 0 and its helpers to CPU 1, and reports events/s, CPU seconds per
100k clicks and peak RSS as ratios to the orjson floor measured in the same run, plus
requests, 429s and a delivered/missing/duplicated check against the recomputed truth.
Results go to ``bench/results/<time>/results.{json,md}``. See docs/performance.md.
"""
