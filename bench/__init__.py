"""albench harness: the pool, the classifier, training, the active-learning loop, results and plots.

core/      what strategies and datasets may import (errors, config, device, models, pool, the select contract)
trial/     one trial and a grid of them (train, loop, identity, preflight, results store, grid, verify)
features/  self-supervised feature sets made here (`albench features`), found by name by strategies
analysis/  results tables -> summaries, statistics, claims, figures
paper/     the manifest-driven reproduction (`albench paper`): status, plan, run, report
perf/      measurements on the machine at hand (`make perf`, `make gpu-check`)
"""
__version__ = "0.2.0"   # part of every trial's identity: a trial is not resumed by another version
