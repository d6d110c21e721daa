"""The paper report (bench.paper.report) and its statistics (bench.analysis.stats).

The report is checked on a results tree written by hand with known numbers under the smoke profile's names
(Table 1, Fig. 3(a), Fig. 3(b) and what is drawn from it, a reference line), never by training: its Table 1
must equal the means computed here from the tables, its paper column the manifest's numbers, missing and
partial trials must be listed and partial ones never averaged, and the HTML must be self-contained.
"""
import dataclasses
import functools
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from bench.analysis import stats
from bench.paper.manifest import load_manifest, load_profile, resolve
from bench.paper.report import write_report
from bench.trial.identity import config_identity
from bench.trial.store import trial_dir

# ------------------------------------------------------------------------------------------- statistics


def test_mean_std_and_t_interval_by_hand():
    assert stats.mean_std([1, 2, 3]) == (2.0, 1.0, 3)
    m, s, n = stats.mean_std([5.0])
    assert (m, n) == (5.0, 1) and np.isnan(s)
    assert stats.mean_std([])[2] == 0
    # mean 2, sd 1, se 1/sqrt(3); t(0.975, 2 df) = 4.302653 (tables)
    lo, hi = stats.t_interval([1, 2, 3])
    assert lo == pytest.approx(2 - 4.302653 / np.sqrt(3), abs=1e-6)
    assert hi == pytest.approx(2 + 4.302653 / np.sqrt(3), abs=1e-6)
    assert stats.t_interval([1.0]) is None


def test_paired_t_test_by_hand():
    # differences 1, 2, 1: mean 4/3, sd 1/sqrt(3), t = 4 with 2 df; for 2 df the t cdf is
    # 1/2 + t / (2 sqrt(2 + t^2)), so p = 1 - 4 / sqrt(18)
    p = stats.paired_t_test([1, 2, 3], [0, 0, 2])
    assert p == pytest.approx(1 - 4 / np.sqrt(18), abs=1e-9)
    assert p == pytest.approx(st.ttest_rel([1, 2, 3], [0, 0, 2]).pvalue)
    assert stats.paired_t_test([1], [0]) is None
    assert stats.paired_t_test([1, 2], [1, 2]) == 1.0          # no difference at all
    assert stats.paired_t_test([2, 3], [1, 2]) == 0.0          # the same non-zero difference every seed
    import warnings

    with warnings.catch_warnings():   # equal up to rounding: decided here, without scipy's precision warning
        warnings.simplefilter("error")
        assert stats.paired_t_test([0.1 + 0.2, 0.3, 0.7], [0.0, 0.0, 0.4]) == 0.0


def test_paired_t_test_matches_scipy():
    rng = np.random.default_rng(3)
    for n in (2, 3, 5):
        a, b = rng.normal(size=n), rng.normal(size=n)
        assert stats.paired_t_test(a, b) == pytest.approx(st.ttest_rel(a, b).pvalue)
        d = a - b
        lo, hi = stats.t_interval(d)
        want = st.t.interval(0.95, n - 1, loc=d.mean(), scale=st.sem(d))
        assert (lo, hi) == pytest.approx(want)


def test_normalised_auc_by_hand():
    # trapezoids 10 * 0.6 + 10 * 0.75 = 13.5 over a range of 20
    assert stats.normalised_auc([0, 10, 20], [0.5, 0.7, 0.8]) == pytest.approx(0.675)
    assert stats.normalised_auc([20, 0, 10], [0.8, 0.5, 0.7]) == pytest.approx(0.675)   # sorted first
    assert stats.normalised_auc([100, 300], [0.2, 0.4]) == pytest.approx(0.3)
    assert np.isnan(stats.normalised_auc([5], [0.3]))


def test_paired_differences_pair_by_seed():
    df = pd.DataFrame({"strategy": ["random"] * 3 + ["a"] * 4, "seed": [0, 1, 2, 2, 0, 1, 9],
                       "n_labelled": [10] * 7, "v": [0.1, 0.2, 0.3, 0.6, 0.3, 0.3, 5.0]})
    d = stats.paired_differences(df, "random", "v").iloc[0]
    # seed 9 has no random partner; differences 0.2, 0.1, 0.3
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.2)
    lo, hi = stats.t_interval([0.2, 0.1, 0.3])
    assert (d["lo"], d["hi"]) == pytest.approx((lo, hi))
    assert d["p"] == pytest.approx(st.ttest_rel([0.6, 0.3, 0.3], [0.3, 0.1, 0.2]).pvalue)


def test_win_tie_loss_by_hand():
    rows = []
    # cell 1: A beats B on every seed by 1 +- a little (significant), C equals B; cell 2: A and B tie (noise)
    for k, (a, b, c) in enumerate([(2.0, 1.0, 1.0), (2.1, 1.0, 1.0), (1.9, 1.0, 1.0)]):
        rows += [("d", 1, "A", k, a), ("d", 1, "B", k, b), ("d", 1, "C", k, c)]
    for k, (a, b) in enumerate([(1.0, 1.2), (1.0, 0.8), (1.0, 1.1)]):
        rows += [("d", 2, "A", k, a), ("d", 2, "B", k, b)]
    rows += [("d", 3, "A", 0, 9.0), ("d", 3, "B", 0, 0.0)]   # one seed: not tested
    df = pd.DataFrame(rows, columns=["dataset", "round", "strategy", "seed", "value"])
    wins, tested = stats.win_tie_loss(df, "value", order=["A", "B", "C"])
    assert wins.loc["A", "B"] == 1 and wins.loc["B", "A"] == 0 and tested.loc["A", "B"] == 2
    assert wins.loc["A", "C"] == 1 and tested.loc["A", "C"] == 1
    assert wins.loc["B", "C"] == 0 and wins.loc["C", "B"] == 0 and tested.loc["B", "C"] == 1


def test_win_tie_loss_matrix_leaves_out_a_strategy_never_tested_and_dashes_a_pair_never_tested():
    from bench.paper.doc import Doc
    from bench.paper.sections import wtl_section

    rows = []
    for k in range(3):   # A beats B on 3 seeds; C has 3 seeds only in a round where A and B have none
        rows += [("d", 1, "A", k, 2.0 + 0.1 * k), ("d", 1, "B", k, 1.0), ("d", 2, "C", k, 1.0),
                 ("d", 2, "B", k, 1.0 + 0.1 * k)]
    rows += [("d", 1, "D", 0, 5.0), ("d", 2, "D", 0, 5.0)]   # one seed everywhere: never tested
    doc = Doc()
    wtl_section(doc, pd.DataFrame(rows, columns=["dataset", "round", "strategy", "seed", "value"]),
                ["A", "B", "C", "D"], {})
    (_, text), (_, header, table) = doc.blocks
    assert header == ["A \\ B", "A", "B", "C", "total"]
    assert [r[0] for r in table] == ["A", "B", "C"]
    assert table[0][1:] == ["·", "1/0/0", "—", "1/0/0"] and table[2][1:4] == ["—", "0/1/0", "·"]
    assert "Not in the matrix" in text and "`D`" in text


# ------------------------------------------------------------------------------------------- a results tree
SMOKE = load_profile("smoke")
VALUES = np.random.default_rng(0)   # the numbers of the fake trials (data of the test, not of albench)


@functools.lru_cache(maxsize=None)
def digits(spec, seed):
    from datasets import get_dataset

    return get_dataset(spec, seed=seed)


def write_trial(cfg, strategy, seed, values, val_values=None, ref=False, rounds_done=None, data_root=None):
    """A trial folder as bench.trial.loop writes it, with ``values`` as the accuracy of each round; the labelled
    pool is the first images of the dataset's training split (classes from the real digits data)."""
    ds = digits(cfg.dataset, seed) if cfg.dataset.startswith("digits") else None
    y = ds.y_train if ds is not None else np.zeros(cfg.initial + cfg.rounds * cfg.budget, np.int64)
    classes = list(ds.classes) if ds is not None else [str(c) for c in range(10)]
    path = trial_dir(cfg.out, cfg.dataset, strategy, seed)
    os.makedirs(path, exist_ok=True)
    identity = config_identity(cfg)
    identity.update(strategy=strategy, seed=seed, data_source="test", data_fingerprint=None)
    conf = {"identity": json.loads(json.dumps(identity)),
            "config": {"device": "cpu", "data_root": data_root or "", "threads": 1 if strategy == "vabal" else 0},
            "versions": {"albench": "test", "torch": "x", "git_commit": "abc123", "gpu": None},
            "classes": classes}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(conf, f)
    order = np.random.default_rng(seed).permutation(len(y))   # the pool's order of selection
    rows, records, done = [], [], cfg.rounds if rounds_done is None else rounds_done
    for r in range(done + 1):
        n = cfg.initial + r * cfg.budget
        counts = np.bincount(y[order[:n]], minlength=len(classes))
        row = {"dataset": cfg.dataset, "strategy": strategy, "seed": seed, "round": r, "n_labelled": n,
               "accuracy": values[r], "balanced_accuracy": values[r], "train_seconds": 300.0 + 60 * seed + 7 * r,
               "select_seconds": 45.5 if r < cfg.rounds else None, "eval_seconds": 20.0,
               "scoring_train_seconds": 250.0 if strategy == "bald" else None, "reads_true_labels": ref}
        if val_values is not None:
            row["val_accuracy"] = val_values[r]
        row.update({f"count_{c}": int(v) for c, v in zip(classes, counts)})
        rows.append(row)
        sel = order[n:n + cfg.budget] if r < cfg.rounds else order[:0]
        rec = {"round": r, "selected": sel.tolist(), "selected_classes": y[sel].tolist()}
        if r == 0:
            rec["initial"] = order[:n].tolist()
        records.append(rec)
    pd.DataFrame(rows).to_csv(os.path.join(path, "rounds.csv"), index=False)
    with open(os.path.join(path, "rounds.jsonl"), "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))


def run_cfgs(profile, name, root, manifest=None):
    art = resolve(profile, manifest, only=[name])[0]
    return art, [(run, d, cfg) for run in art.runs for d, cfg in run.configs(root)]


MANIFEST = load_manifest()
MANIFEST["artifacts"]["ref_check"] = {"title": "reference line check", "group": "refgroup", "datasets": ["digits"],
                                      "strategies": ["random", "balanced_random_oracle"], "seeds": [0, 1],
                                      "draw": "curve"}
PARTIAL_VALUE = 0.999   # a partial trial's accuracy: must never reach an average


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("res") / "paper-smoke")
    # Table 1 (val_accuracy): vabal_prior seed 1 on digits_dom1 missing, vabal seed 1 on digits partial
    _, cfgs = run_cfgs(SMOKE, "table1", root)
    for run, d, cfg in cfgs:
        for s in run.strategies:
            for k in run.seeds:
                if (d, s, k) == ("digits_dom1", "vabal_prior", 1):
                    continue
                vals = VALUES.uniform(0.2, 0.9, cfg.rounds + 1)
                if (d, s, k) == ("digits", "vabal", 1):
                    write_trial(cfg, s, k, vals, [PARTIAL_VALUE] * 3, rounds_done=1)
                else:
                    write_trial(cfg, s, k, VALUES.uniform(0.2, 0.9, 3), vals)
    # Fig. 3(b) (and fig4/fig7/fig10_21 drawn from it): vaal seed 1 on digits_dom10 missing
    _, cfgs = run_cfgs(SMOKE, "fig3b", root)
    for run, d, cfg in cfgs:
        for s in run.strategies:
            for k in run.seeds:
                if (d, s, k) != ("digits_dom10", "vaal", 1):
                    write_trial(cfg, s, k, np.sort(VALUES.uniform(0.2, 0.9, cfg.rounds + 1)))
    # Fig. 3(a): seed 0 only
    _, cfgs = run_cfgs(SMOKE, "fig3a", root)
    for run, d, cfg in cfgs:
        for s in run.strategies:
            write_trial(cfg, s, 0, np.sort(VALUES.uniform(0.2, 0.9, cfg.rounds + 1)))
    # a reference line; random seed 1 made under another configuration (more epochs)
    _, cfgs = run_cfgs(SMOKE, "ref_check", root, MANIFEST)
    for run, d, cfg in cfgs:
        for s in run.strategies:
            for k in run.seeds:
                other = (s, k) == ("random", 1)
                write_trial(dataclasses.replace(cfg, epochs=3) if other else cfg, s, k,
                            np.sort(VALUES.uniform(0.2, 0.9, 3)), ref=s != "random")
    # Fig. 5(a): two budgets, random and vabal only
    _, cfgs = run_cfgs(SMOKE, "fig5a", root)
    for run, d, cfg in cfgs:
        for s in ("random", "vabal"):
            for k in run.seeds:
                write_trial(cfg, s, k, np.sort(VALUES.uniform(0.2, 0.9, cfg.rounds + 1)))
    html_path, md_path = write_report("smoke", root, manifest=MANIFEST)
    return root, html_path, md_path


def section(md, name):
    start = md.index(f"## `{name}`")
    end = md.find("\n## ", start + 1)
    return md[start:end if end > 0 else None]


def tables(text):
    """Every Markdown table in ``text`` as a list of dict rows."""
    out, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            head = [c.strip() for c in lines[i].strip("|").split(" | ")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(head, (c.strip() for c in lines[i].strip().strip("|").split(" | ")))))
                i += 1
            out.append(rows)
        else:
            i += 1
    return out


def num(cell):
    return float(re.match(r"[-+]?[0-9.]+", cell.strip()).group())


def finished_rows(root, group):
    from bench.analysis.collect import collect

    df = collect(os.path.join(root, group))
    return df[df["finished"]]


def test_table1_equals_results_and_paper(tree):
    root, _, md_path = tree
    md = open(md_path).read()
    rows = tables(section(md, "table1"))[0]
    df = finished_rows(root, "table1")
    paper = MANIFEST["artifacts"]["table1"]["paper"]["rows"]
    assert len(rows) == 8
    for r in rows:
        d, s = r["dataset"].strip("`"), r["strategy"]
        g = df[(df["dataset"] == d) & (df["strategy"] == s)]
        avg = g.groupby("seed")["val_accuracy"].mean()
        final = g[g["round"] == g["round"].max()].set_index("seed")["val_accuracy"]
        assert int(r["seeds"]) == len(avg)
        assert num(r["avg (albench)"]) == pytest.approx(round(100 * avg.mean(), 2), abs=1e-9)
        assert num(r["final (albench)"]) == pytest.approx(round(100 * final.mean(), 2), abs=1e-9)
        if len(avg) > 1:
            assert num(r["avg (albench)"].split("±")[1]) == pytest.approx(round(100 * avg.std(ddof=1), 2))
        col = {"digits": "cifar10", "digits_dom1": "cifar10_dom1"}[d]
        assert r["paper's column"] == f"`{col}`"
        assert [float(r["avg (paper)"]), float(r["final (paper)"])] == paper[s][col]
    assert "`cifar10` → `digits`" in section(md, "table1")


def test_missing_and_partial_trials_listed_never_averaged(tree):
    _, _, md_path = tree
    md = open(md_path).read()
    t1 = section(md, "table1")
    assert re.search(r"`table1/digits_dom1`: [^\n]*`vabal_prior` seed 1(;|\n)", t1)
    assert "`table1/digits/vabal/seed1`: rounds 0-1 of 0-2 done" in t1
    row = next(r for r in tables(t1)[0] if r["dataset"] == "`digits`" and r["strategy"] == "vabal")
    assert row["seeds"] == "1" and "(1 seed)" in row["avg (albench)"]
    assert f"{100 * PARTIAL_VALUE:.2f}" not in md
    f3b = section(md, "fig3b")
    assert "`main/digits_dom10`: `vaal` seed 1" in f3b
    assert "`vaal` seed 1 (missing digits_dom10)" in f3b
    f3a = section(md, "fig3a")
    assert "`main/digits_lt10`: `random` seed 1" in f3a
    assert "interval not available" in f3a and "Win/tie/loss matrix: not available" in f3a
    # artifacts with no results at all are listed with what they need
    rest = md[md.index("## Artifacts without results"):]
    assert "`fig6`" in rest and "`main`" not in rest.split("`fig6`")[0][-5:]


def test_mean_curve_averages_datasets_per_seed_first(tree):
    root, _, md_path = tree
    md = open(md_path).read()
    df = finished_rows(root, "main")
    df = df[df["dataset"].isin(["digits_dom1", "digits_dom5", "digits_dom10"])]
    auc_table = next(t for t in tables(section(md, "fig3b")) if "normalised AUC" in t[0])
    for s in ("random", "vabal"):
        per_seed = df[df["strategy"] == s].groupby(["seed", "round"]).agg(x=("n_labelled", "mean"),
                                                                           y=("accuracy", "mean"))
        aucs = [stats.normalised_auc(g["x"], g["y"]) for _, g in per_seed.groupby(level="seed")]
        row = next(r for r in auc_table if r["strategy"] == s)
        assert num(row["normalised AUC"]) == pytest.approx(round(100 * np.mean(aucs), 2), abs=1e-9)
    # vabal minus random at the last round, paired by seed, with its t-interval
    last = df["round"] == df["round"].max()
    mean = df[last].groupby(["strategy", "seed"])["accuracy"].mean()
    d = (mean["vabal"] - mean["random"]).to_numpy()
    lo, hi = st.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=st.sem(d))
    diff_table = next(t for t in tables(section(md, "fig3b")) if t[0].get("strategy") == "coreset"
                      and "seeds" not in t[0] and "·" not in t[0].values())
    cell = next(r for r in diff_table if r["strategy"] == "vabal")["40"]
    assert cell == f"{100 * d.mean():+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]"


def test_rare_share_and_top_images(tree):
    root, _, md_path = tree
    md = open(md_path).read()
    df = finished_rows(root, "main")
    g = df[(df["dataset"] == "digits_dom1") & (df["strategy"] == "bald") & (df["round"] == 2)]
    share = 1 - g["count_0"] / g["n_labelled"]
    rows = tables(section(md, "fig7"))[0]
    assert num(next(r for r in rows if r["strategy"] == "bald")["40"]) == pytest.approx(round(100 * share.mean(), 2))
    f4 = section(md, "fig4")
    assert "![" in f4 and "could not be loaded" not in f4


def test_reference_line_flagged(tree):
    _, _, md_path = tree
    rows = tables(section(open(md_path).read(), "ref_check"))[0]
    assert [r["strategy"] for r in rows] == ["random", "balanced_random_oracle (reads true labels: not deployable)"]


def test_report_self_contained_and_reproducible(tree):
    root, html_path, md_path = tree
    page, md = open(html_path).read(), open(md_path).read()
    assert "http" not in page
    srcs = re.findall(r"src=\"([^\"]*)\"", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == len(srcs) and all(os.path.exists(os.path.join(root, "report", p)) for p in links)
    assert "abc123" in md and "albench paper report" in md and "JPEG re-encoding" in md
    again = write_report("smoke", root, manifest=MANIFEST)
    assert open(again[1]).read() == md and open(again[0]).read() == page


def test_top_images_without_the_dataset_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("ALBENCH_DATA", raising=False)
    paper = load_profile("paper")
    root = str(tmp_path / "paper-paper")
    art, cfgs = run_cfgs(paper, "fig4", root)
    empty = tmp_path / "no-data"
    empty.mkdir()
    for run, d, cfg in cfgs:
        for s in run.strategies:
            write_trial(cfg, s, 0, [0.5] * (cfg.rounds + 1), data_root=str(empty))
    _, md_path = write_report("paper", root, only=["fig4"])
    md = open(md_path).read()
    assert md.count("could not be loaded") == 3 and "![" not in md


def test_sweep_and_other_config(tree):
    root, _, md_path = tree
    md = open(md_path).read()
    f5a = section(md, "fig5a")
    assert "### `budget=5,rounds=4`" in f5a and "### `budget=20,rounds=1`" in f5a
    per_round = [t for t in tables(f5a) if "seeds" in t[0] and "normalised AUC" not in t[0]]
    assert [list(t[0])[2:] for t in per_round] == [["20", "25", "30", "35", "40"], ["20", "40"]]
    df = finished_rows(root, "fig5a-budget20-rounds1")
    want = df[(df["strategy"] == "vabal") & (df["round"] == 1)]["accuracy"]
    assert num(next(r for r in per_round[1] if r["strategy"] == "vabal")["40"]) == \
        pytest.approx(round(100 * want.mean(), 2))   # every digits_dom analogue at 40 labels, then seeds
    ref = section(md, "ref_check")
    assert "`refgroup/digits/random/seed1`: epochs=3 (profile: 2)" in ref
    assert next(r for r in tables(ref)[0] if r["strategy"] == "random")["seeds"] == "1"


def test_empty_root_lists_what_is_missing(tmp_path):
    html_path, md_path = write_report("smoke", None, only=["table1", "fig7"], base=str(tmp_path))
    assert md_path == str(tmp_path / "paper-smoke" / "report" / "report.md") and os.path.exists(html_path)
    md = open(md_path).read()
    assert "## Artifacts without results" in md
    assert "Finished trials used: 0 of 16 expected (those not used are listed below)." in md
    assert re.search(r"`table1/digits_dom1`: [^\n]*`vabal` seed 0, 1(;|\n)", md)
    # Fig. 7's claims are read from class counts: with no trial at all they are "not measured", not an error
    fig7 = [r for r in tables(md[md.index("## The paper's claims"):])[0] if "Fig. 7" in r["where"]]
    assert fig7 and all(r["verdict"].startswith("**not measured") for r in fig7)
    assert "## Compute" not in md


def test_compute_section_sums_the_recorded_seconds(tree):
    from bench.analysis.collect import collect

    root, _, md = tree
    md = open(md).read()
    text = md[md.index("## Compute"):]
    rows = {(r["group"].strip("`"), r["strategy"].strip("`")): r for r in tables(text)[0]}
    phases = ["train_seconds", "scoring_train_seconds", "select_seconds", "eval_seconds"]
    for group, strategy in (("table1", "vabal"), ("table1", "vabal_prior"), ("main", "bald")):
        df = collect(os.path.join(root, group))
        sub = df[df["strategy"] == strategy]
        done = sub.groupby(["dataset", "seed"])["finished"].transform("all")
        fin, part = sub[done], sub[~done]
        r = rows[(group, strategy)]
        assert int(r["finished trials"]) == len(fin.groupby(["dataset", "seed"]))
        seconds = fin[phases].fillna(0).to_numpy().sum()
        per_trial = fin.groupby(["dataset", "seed"])[phases].sum().sum(axis=1) / 60
        mean, median = (num(x) for x in r["min per finished trial: mean / median"].split("/"))
        assert num(r["h (finished)"]) == pytest.approx(seconds / 3600, abs=0.005)
        assert (mean, median) == pytest.approx((per_trial.mean(), per_trial.median()), abs=0.05)
        assert r["torch threads"] == ("1" if strategy == "vabal" else "auto")
        if strategy == "vabal":   # seed 1 on digits stopped after round 1: 2 rounds of seconds, counted apart
            assert r["partial trials (h so far)"] == f"1 ({part[phases].fillna(0).to_numpy().sum() / 3600:.2f})"
    # random seed 1 of refgroup was made under another configuration: not this profile's compute
    assert int(rows[("refgroup", "random")]["finished trials"]) == 1
    # Fig. 3(b) and the artifacts drawn from its runs share the group: each trial counted once
    main = collect(os.path.join(root, "main"))
    assert int(rows[("main", "random")]["finished trials"]) == len(main[main["strategy"] == "random"]
                                                                    .groupby(["dataset", "seed"]))
    total = float(re.search(r"\*\*([0-9.]+) h\*\* in all", text).group(1))
    seconds = 0.0
    for g in os.listdir(root):
        if os.path.isdir(os.path.join(root, g)) and g != "report":
            rows_g = collect(os.path.join(root, g))
            if g == "refgroup":   # made under another configuration: left out
                rows_g = rows_g[~((rows_g["strategy"] == "random") & (rows_g["seed"] == 1))]
            seconds += rows_g[phases].fillna(0).to_numpy().sum()
    assert total == pytest.approx(seconds / 3600, abs=0.05)
    html = open(tree[1]).read()
    assert f"<strong>{total:.1f} h</strong> in all" in html and "**" not in html


def test_unreadable_table_is_reported(tmp_path):
    root = str(tmp_path / "paper-smoke")
    _, cfgs = run_cfgs(SMOKE, "table1", root)
    run, d, cfg = cfgs[0]
    write_trial(cfg, "vabal", 0, [0.5] * 3, [0.5] * 3)
    with open(os.path.join(trial_dir(cfg.out, d, "vabal", 0), "rounds.csv"), "w") as f:
        f.write("dataset,strategy\n" + d + ",vabal\n")   # a table missing its columns
    md = open(write_report("smoke", root, only=["table1"])[1]).read()
    assert "## Unreadable results (left out)" in md and f"`{trial_dir(cfg.out, d, 'vabal', 0)}`" in md
    assert re.search(rf"`table1/{d}`: [^\n]*`vabal` seed 0, 1(;|\n)", md)


def test_provenance_counts_where_each_round_ran(tmp_path):
    """A resumed trial may finish on another machine: the report counts rounds per processor from each round's
    record, not only the processor a trial's config.json names (where it started)."""
    root = str(tmp_path / "paper-smoke")
    _, cfgs = run_cfgs(SMOKE, "table1", root)
    run, d, cfg = cfgs[0]
    for strategy, seed, where in (("vabal", 0, ["CPU A", "CPU A", "CPU B"]), ("vabal", 1, [None, None, "CPU A"]),
                                  ("vabal_prior", 0, ["CPU B"] * 3)):
        write_trial(cfg, strategy, seed, [0.5] * 3, [0.5] * 3)
        path = os.path.join(trial_dir(cfg.out, d, strategy, seed), "rounds.jsonl")
        records = [json.loads(line) for line in open(path)]
        with open(path, "w") as f:
            f.write("".join(json.dumps(dict(r, **({"processor": p} if p else {}))) + "\n"
                            for r, p in zip(records, where)))
    md = open(write_report("smoke", root, only=["table1"])[1]).read()
    assert ("Where their 9 rounds ran, from each round's record in `rounds.jsonl` (value: rounds): CPU A (3); "
            "CPU B (4); not recorded (2). 1 trial ran on more than one recorded processor (resumed on another "
            "machine); 1 trial began before processors were recorded and finished after.") in md


def test_claims_section_recomputes_from_the_tables(tree):
    """The claims table's Δ for 'vabal > random' on Fig. 3(b) equals the paired difference computed here
    (per seed: mean over rounds, then over the three datasets), and its verdict follows the rule."""
    root, _, md_path = tree
    md = open(md_path).read()
    start = md.index("## The paper's claims")
    rows = tables(md[start:md.find("\n## ", start + 1)])[0]
    df = finished_rows(root, "main")
    df = df[df["dataset"].isin(["digits_dom1", "digits_dom5", "digits_dom10"])]
    per = df.groupby(["strategy", "seed", "dataset"])["accuracy"].mean().mul(100)
    per = per[per.groupby(["strategy", "seed"]).transform("size") == 3].groupby(["strategy", "seed"]).mean()
    d = (per["vabal"] - per["random"]).dropna().to_numpy()
    lo, hi = stats.t_interval(d)
    row = next(r for r in rows if r["where"] == "Sec. 4.3, Fig. 3(b)" and "`vabal` > `random`" in r["claim (paper)"]
               and r["measure"] == "avg")
    assert num(row["Δ better − worse, points [95 % CI]"]) == pytest.approx(round(d.mean(), 2), abs=1e-9)
    want = "agrees" if lo > 0 else "does not agree" if hi < 0 else "inconclusive at this scale"
    assert row["verdict"].startswith(f"**{want}**")
    # table1's claims are judged on the substituted datasets (cifar10_dom1 -> digits_dom1, cifar10 -> digits);
    # of the 2 seeds, vabal_prior's seed 1 is missing on digits_dom1 and vabal's seed 1 partial on digits: one
    # finished seed, so no interval and no verdict for the claims that need them
    # (these hand-written trials record no val_balanced_accuracy: that claim says so)
    t1 = [r["verdict"] for r in rows if r["where"] == "Sec. 4.4, Table 1"]
    assert len(t1) == 6 and "not measured" not in t1[0] + t1[3], t1
    for i, who in ((1, "`val_balanced_accuracy` is not recorded"), (2, "1 finished seed(s) of `vabal_prior`"),
                   (4, "1 finished seed(s) of `vabal_prior`"),
                   (5, "1 finished seed(s) of `vabal`, 2 of `vabal_neither`")):
        assert t1[i].startswith(f"**not measured**: {who}"), t1[i]


def test_publish_writes_the_twin_and_the_readme_block(tree, tmp_path):
    from bench.paper.report import publish

    root, _, md_path = tree
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- albench:claims:smoke start -->\nold table\n"
                      "<!-- albench:claims:smoke end -->\ntail\n")
    path = tmp_path / "docs" / "reproduction-smoke.md"
    path.parent.mkdir()
    (path.parent / "reproduction-smoke").mkdir()
    (path.parent / "reproduction-smoke" / "mine.png").write_bytes(b"not the report's")   # never removed
    written = publish("smoke", root, str(path), str(readme), manifest=MANIFEST)
    assert (path.parent / "reproduction-smoke" / "mine.png").exists()
    text = path.read_text()
    links = re.findall(r"\]\((reproduction-smoke/[^)]+\.png)\)", text)
    assert links and all((path.parent / link).is_file() for link in links)
    assert text.replace("reproduction-smoke/", "") == open(md_path).read()   # the report's twin, links aside
    new = readme.read_text()
    assert new.startswith("intro\n") and new.endswith("<!-- albench:claims:smoke end -->\ntail\n")
    assert "old table" not in new and str(readme) in written
    start = new.index("start -->\n") + len("start -->\n")
    block = new[start:new.index("<!-- albench:claims:smoke end")]
    assert block.startswith("| claim: better > worse |")
    full, short = tables(text[text.index("## The paper's claims"):])[0], tables(block)[0]
    assert len(short) == len(full) > 0   # the README's short table: the same claims, Δ and verdicts
    for f, r in zip(full, short):
        assert r["albench Δ, points [95 % CI]"].startswith(f["Δ better − worse, points [95 % CI]"])
        assert f["verdict"].startswith(r["verdict"]) and r["claim: better > worse"] in f["claim (paper)"]
    tally = [line for line in text.splitlines() if line.startswith("Tally: ")]
    assert len(tally) == 1 and tally[0] in block


def test_publish_refuses_bad_paths_and_markers(tree, tmp_path):
    from bench.core.errors import ConfigError
    from bench.paper.report import publish

    root = tree[0]
    with pytest.raises(ConfigError, match="ending in .md"):
        publish("smoke", root, str(tmp_path / "report"), manifest=MANIFEST)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- albench:claims:smoke end -->\n<!-- albench:claims:smoke start -->\n")
    with pytest.raises(ConfigError, match="must appear once, start before end"):
        publish("smoke", root, str(tmp_path / "r.md"), str(readme), manifest=MANIFEST)
    assert not (tmp_path / "r.md").exists()   # refused before anything is written
    readme.write_text("no block here\n")
    assert str(readme) not in publish("smoke", root, str(tmp_path / "r.md"), str(readme), manifest=MANIFEST)
    assert readme.read_text() == "no block here\n"


def test_rare_share_claim_recomputed_from_the_class_counts(tree):
    from bench.paper.draw import _dominant

    root, _, md_path = tree
    md = open(md_path).read()
    start = md.index("## The paper's claims")
    rows = tables(md[start:md.find("\n## ", start + 1)])[0]
    row = next(r for r in rows if r["where"] == "Supp. A.2, Fig. 7" and "`vabal` > `random`" in r["claim (paper)"])
    assert row["measure"] == "final (rare_share)"
    df = finished_rows(root, "main")
    per = {}
    for d in ("digits_dom1", "digits_dom5", "digits_dom10"):
        classes = json.load(open(os.path.join(trial_dir(os.path.join(root, "main"), d, "random", 0),
                                              "config.json")))["classes"]
        cols = [f"count_{classes[i]}" for i in _dominant(d)]
        g = df[df["dataset"] == d]
        last = g[g["round"] == g["round"].max()]
        for (s, k), r in last.groupby(["strategy", "seed"]):
            per.setdefault((s, k), []).append(100 * (1 - r[cols].sum(axis=1).iloc[0] / r["n_labelled"].iloc[0]))
    score = {key: np.mean(v) for key, v in per.items() if len(v) == 3}
    d = [score[("vabal", k)] - score[("random", k)] for k in (0, 1) if ("vabal", k) in score and ("random", k) in score]
    assert num(row["Δ better − worse, points [95 % CI]"]) == pytest.approx(round(float(np.mean(d)), 2), abs=1e-9)


def test_a_reports_images_come_from_the_given_data_root_then_the_recorded_one_then_the_environment(tmp_path,
                                                                                                   monkeypatch):
    """A fresh clone has no `data` link: `--data-root` (or $ALBENCH_DATA) must reach the drawings that show images
    (Fig. 4), while a recorded root that exists here still wins over the environment."""
    from bench.paper import draw

    seen = []

    class Loader:
        def get_dataset(self, spec, root, seed=0, **kw):
            seen.append(root)
            return f"{spec}@{root}"

    monkeypatch.setattr(draw, "import_datasets", lambda: Loader())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALBENCH_DATA", "/env/data")
    conf = {"config": {"data_root": "data"}}
    assert draw.Context("cpu", "r", "random", data_root="/given").dataset("cifar10", 0, conf) == ("cifar10@/given", "")
    draw.Context("cpu", "r", "random").dataset("cifar10", 0, conf)   # no `data` folder here: the environment's
    (tmp_path / "data").mkdir()
    draw.Context("cpu", "r", "random").dataset("cifar10", 0, conf)   # the recorded root, now that it exists
    assert seen == ["/given", "/env/data", "data"]
