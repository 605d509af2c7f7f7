"""Generated figures: the docs' bench blocks equal their rendering from bench/results/, and the renderer's rules."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHES = ("scale", "xgb_objective", "target_compression", "own_data", "model_table", "cell_type_feature",
           "validation_claim", "nn_epochs", "full_size", "model_cost", "ceiling", "guanlab", "codes_cost",
           "real_splits", "peers")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"test_docs_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_docs = _load("render_docs")
record = _load("record")

TOY = '''
def render(doc, part=None):
    rows = doc["results"][part or "all"]
    return "| x |\\n| --- |\\n" + "\\n".join(f"| {x} |" for x in rows) + f"\\n\\nat {doc['commit']}"
'''


@pytest.fixture
def toy(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A root with README.md and docs/, a bench folder with one bench (toy), and a results folder."""
    root, bench, results = tmp_path / "root", tmp_path / "bench", tmp_path / "results"
    (root / "docs").mkdir(parents=True)
    bench.mkdir()
    (bench / "toy.py").write_text(TOY)
    return root, bench, results


def test_committed_docs_equal_their_rendering():
    """Fails when a generated block in README.md or docs/ differs from its bench/results/ JSON (run make docs)."""
    assert [str(p.relative_to(REPO)) for p in render_docs.render_docs(REPO, check=True)] == []


def test_block_is_replaced_from_its_json(toy):
    root, bench, results = toy
    record.save("toy", {"all": [1, 2], "b": [7]}, {"n": 2}, results_dir=results)
    doc = json.loads((results / "toy.json").read_text())
    assert set(doc) == {"bench", "commit", "date", "cores", "config", "results"} and doc["config"] == {"n": 2}
    readme = "# t\n\n<!-- bench:toy -->\nstale 0.123\n<!-- /bench -->\n\nprose\n"
    (root / "README.md").write_text(readme)
    (root / "docs" / "b.md").write_text("<!-- bench:toy:b -->\n<!-- /bench -->\n")
    assert render_docs.render_docs(root, bench, results, check=True) == [root / "README.md", root / "docs" / "b.md"]
    assert (root / "README.md").read_text() == readme  # --check rewrites nothing
    render_docs.render_docs(root, bench, results)
    assert (root / "README.md").read_text() == (
        f"# t\n\n<!-- bench:toy -->\n| x |\n| --- |\n| 1 |\n| 2 |\n\nat {doc['commit']}\n<!-- /bench -->\n\nprose\n")
    assert "| 7 |" in (root / "docs" / "b.md").read_text()
    assert render_docs.render_docs(root, bench, results, check=True) == []


def test_missing_json_reads_not_measured(toy):
    root, bench, results = toy
    (root / "README.md").write_text("<!-- bench:toy -->\n| 1 |\n<!-- /bench -->\n")
    render_docs.render_docs(root, bench, results)
    assert (root / "README.md").read_text() == (
        "<!-- bench:toy -->\n_Not measured at this version: run `python bench/toy.py`._\n<!-- /bench -->\n")


@pytest.mark.parametrize(("text", "message"), [
    ("a\n\n<!-- bench:nosuch -->\n<!-- /bench -->\n", r"docs/x\.md:3: unknown bench 'nosuch'"),
    ("<!-- bench:toy -->\n| 1 |\n", r"docs/x\.md:1: .* not closed"),
    ("<!-- bench:toy -->\n<!-- bench:toy -->\n<!-- /bench -->\n", r"docs/x\.md:1: .* not closed"),
])
def test_bad_blocks_raise_naming_file_and_line(toy, text, message):
    root, bench, results = toy
    (root / "docs" / "x.md").write_text(text)
    with pytest.raises(render_docs.MarkerError, match=message):
        render_docs.render_docs(root, bench, results)
    assert (root / "docs" / "x.md").read_text() == text


def test_markers_in_fenced_code_are_examples(toy):
    root, bench, results = toy
    text = "```markdown\n<!-- bench:NAME -->\n```\n"
    (root / "README.md").write_text(text)
    assert render_docs.render_docs(root, bench, results) == []


def test_check_exits_1_naming_the_file(tmp_path, capsys):
    (tmp_path / "README.md").write_text("<!-- bench:own_data -->\nhand-typed 0.999\n<!-- /bench -->\n")
    assert render_docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert "README.md" in capsys.readouterr().out
    assert "hand-typed" in (tmp_path / "README.md").read_text()
    assert render_docs.main(["--root", str(tmp_path)]) == 0
    assert render_docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_saved_config_has_no_absolute_paths(tmp_path):
    config = {"real": str(REPO.parent / "shared" / "data" / "real"), "workdir": str(REPO / "bench" / "out" / "x"),
              "elsewhere": "/somewhere/else/run", "seeds": [1, 2]}
    doc = json.loads(record.save("toy", {}, config, results_dir=tmp_path).read_text())
    assert doc["config"] == {"real": "../shared/data/real", "workdir": "bench/out/x", "elsewhere": "run",
                             "seeds": [1, 2]}


def test_footer_command_quotes_what_a_shell_would_split_or_drop():
    """An empty or spaced argument is shown as a shell would need it typed, so the footer's command reruns."""
    doc = {"bench": "toy", "config": {"real": "", "sets": ["1:10", "a b"], "merge": True, "skip": None}}
    assert record.command(doc) == "python bench/toy.py --real '' --sets 1:10 'a b' --merge"


def test_benches_render_without_heavy_imports():
    """Rendering the docs imports every bench: none may import msci, torch, snakemake, scikit-learn at module level."""
    code = ("import importlib.util, sys\n"
            f"for n in {BENCHES!r}:\n"
            f"    s = importlib.util.spec_from_file_location('b_' + n, {str(REPO / 'bench')!r} + f'/{{n}}.py')\n"
            "    m = importlib.util.module_from_spec(s); s.loader.exec_module(m); assert callable(m.render), n\n"
            "print(sorted({k.split('.')[0] for k in sys.modules} & {'msci', 'torch', 'snakemake', 'sklearn',"
            " 'xgboost', 'scipy', 'mudata', 'anndata'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _doc(name: str, results: dict, config: dict | None = None) -> dict:
    return {"bench": name, "commit": "abc1234", "date": "2025-01-01T00:00:00Z", "cores": 2,
            "config": config or {}, "results": results}


_SET = {"seconds": 60.0,
        "cite": {"best_single": ["mlp"],
                 "cv": {"ridge": 0.9, "mlp": 0.95, "tabnet": 0.8, "blend": 0.96, "best_single_holdout": 0.94,
                        "mean_baseline": 0.7},
                 "private": {"ridge": 0.89, "mlp": 0.93, "tabnet": 0.79, "blend": 0.945, "best_single_holdout": 0.93,
                             "mean_baseline": 0.6}}}
_SET["multi"] = _SET["cite"]
_CLAIM_RUN = {"scores": {k: {"spearman": 0.5, "mean_abs_gap": 0.01} for k in ("cv", "good", "day_out")},
              "blend": {"holdout": 0.9, "day_out": 0.8, "in_sample": 0.91, "private_submission": 0.88}}
# Benches not run at this version (hours here): their render on a small made-up result, and a cell it must show.
UNMEASURED = {
    "model_table": (_doc("model_table", {"defaults": ["mlp", "ridge"], "sets": {"seed 1, 10 cells": _SET}}),
                    "cite", "| tabnet (not blended) | 0.8000 / 0.7900 |"),
    "cell_type_feature": (_doc("cell_type_feature", {"rows": [
        {"seed": s, "feature": f, "model": m, "cv": 0.5 + s, "private": 0.4}
        for s in (0, 1) for f in ("annotated one-hot", "predicted one-hot", "predicted probabilities")
        for m in ("xgboost", "mlp")]}), None,
        "| out-of-fold predicted type, one-hot | 1.0000 | 0.4000 | 1.0000 | 0.4000 |"),
    "validation_claim": (_doc("validation_claim", {"workflow_seconds": {"1": 600}, "runs": [
        {"seed": 1, "modality": m, **_CLAIM_RUN} for m in ("cite", "multi")]}), None,
        "| Multiome | 1 | 0.9000 | 0.8000 | 0.9100 | 0.8800 |"),
    "nn_epochs": (_doc("nn_epochs", {"torch": "2", "gpu": None, "cpu_threads": 2,
                                     "epoch_seconds": {"mlp": {"cpu": 1.5}}}), None, "| mlp | 1.500 | – | – |"),
    "ceiling": (_doc("ceiling", {"sets": {"seed 1, 10 cells": {m: {"oracle": 0.99, "state_krr": 0.98}
                                                              for m in ("cite", "multi")}}, "draws": 4}),
                None, "| seed 1, 10 cells | 0.9900 | 0.9800 | 0.9900 | 0.9800 |"),
    "guanlab": (_doc("guanlab", {"sets": {"seed 1, 10 cells": {m: {"guanlab": 0.95, "guanlab_bagged": 0.94,
                                                                  "svd_fixed": 0.93, "svd_tuned": 0.96}
                                                              for m in ("cite", "multi")}}}),
                None, "| seed 1, 10 cells | 0.9500 | 0.9400 | 0.9300 | 0.9600 | 0.9500 |"),
    "full_size": (_doc("full_size", {"rules": [{"rule": "ingest/multi", "seconds": 1228.0, "peak_rss_gb": 1.34},
                                               {"rule": "submission", "seconds": 153.0, "peak_rss_gb": 2.51}],
                                     "networks": [], "write": None, "run": {"seconds": 7020},
                                     "sizes": {"cite": [7, 4], "multi": [10, 5]}, "epochs": 5},
                       {"step": "all", "data": "d"}), None, "| `submission` | 153 s, 2.51 GB (both tasks) | — |"),
}


@pytest.mark.parametrize("name", sorted(UNMEASURED))
def test_unmeasured_benches_render(name):
    doc, part, row = UNMEASURED[name]
    text = _load(name).render(doc, part)
    assert row in text
    assert f"`python bench/{name}.py" in text and "` at commit abc1234, 2025-01-01, 2 cores" in text


def _test_metrics(r: float) -> dict:
    return {"mean_pearson_per_cell": r, "mean_pearson_per_gene": r - 0.2, "rmse": 1 - r}


def _real_run(scores: dict[str, tuple[float, float]], blend: float) -> dict:
    """A real_splits run: member → (CV, test per-cell r), the blend's test r."""
    return {"n_test_cells": 100, "mean_profile": _test_metrics(0.5),
            "members": {n: {"cv_pearson": cv, "cv_pearson_good_validation": cv, "test": _test_metrics(t)}
                        for n, (cv, t) in scores.items()},
            "blend": {"cv_pearson_holdout": 0.9, "weights": {}, "fit_on": "all", "test": _test_metrics(blend)}}


def test_real_splits_renders_the_goal_against_peers_and_the_rank_agreement_of_each_validation():
    bench = _load("real_splits")
    grouped = _real_run({"ridge": (0.80, 0.71), "krr": (0.82, 0.73), "mlp": (0.81, 0.70)}, blend=0.735)
    random = _real_run({"ridge": (0.90, 0.71), "krr": (0.91, 0.73), "mlp": (0.93, 0.70)}, blend=0.72)
    runs = {"grouped": grouped, "random": random}
    split = {"runs": runs, "workflow_seconds": {"grouped": 600.0, "random": 600.0},
             "rank_agreement": bench.rank_agreement(runs),
             "rule_costs": {"ingest/cite": {"seconds": 12.0, "peak_rss_gb": 0.5}}}
    assert split["rank_agreement"]["donor-grouped CV"]["spearman_with_test"] == 0.5
    assert split["rank_agreement"]["random-fold CV"]["spearman_with_test"] == -0.5
    doc = _doc("real_splits", {"splits": {"b1_to_b2": split}})
    peers = _doc("peers", {"splits": {"b1_to_b2": {"n_test_cells": 100, "peers": {
        "guanlab": {**_test_metrics(0.74), "seconds": 60.0, "peak_rss_gb": 1.0},
        "totalvi": {"skipped": "no peers environment"}}}}})
    headline = bench.test_rows(doc, peers)
    assert bench.goal(headline, "b1_to_b2")[0] == "guanlab"  # the best of the simple methods and peers
    assert round(bench.goal(headline, "b1_to_b2")[1], 4) == -0.005
    validation = bench.render(doc, "validation")
    assert "| B1 → B2 | donor-grouped CV | 0.50 |" in validation
    assert "| B1 → B2 | random-fold CV | -0.50 |" in validation
    assert "| ingest/cite | 12 / 0.50 |" in bench.render(doc, "cost")
    text = _load("peers").render(peers, None)
    assert "| Guanlab's kernel ridge (as published) | b1_to_b2 | 100 | 0.7400 |" in text and "not run:" in text


def test_model_table_sets_other_benches_figures_beside_its_own_naming_their_source():
    """The goal table's oracle column comes from bench/ceiling.py and the members table's cost from model_cost.py:
    each shown only where measured, its source named in the footer."""
    table = _load("model_table")
    private = {**_SET["cite"]["private"], "krr": 0.92, "blend_no_mlp": 0.94, "blend_knn": 0.946, "knn": 0.9,
               "blend_xgboost": 0.95}
    s = {**_SET, "cite": {**_SET["cite"], "private": private}}
    doc = _doc("model_table", {"defaults": ["mlp", "ridge"], "sets": {"seed 1, 10 cells": s}})
    ceiling = _doc("ceiling", {"sets": {"seed 1, 10 cells": {"cite": {"oracle": 0.97, "state_krr": 0.96}}}})
    guanlab = _doc("guanlab", {"sets": {"seed 1, 10 cells": {"multi": {"guanlab": 0.895, "guanlab_bagged": 0.85}}}})
    goal = table.goal_table(doc, ceiling, guanlab)
    assert "| seed 1, 10 cells | cite | 0.9200 (krr) | 0.9700 (+0.0500) | 0.9450 (+0.0250) |" in goal
    assert "| seed 1, 10 cells | multi | 0.8950 (guanlab) | – |" in goal  # the published method, where it is best
    assert "`bench/ceiling.py` at commit abc1234" in goal and "`bench/guanlab.py` at commit abc1234" in goal
    assert "| seed 1, 10 cells | 0.9200 (krr) | " in table.summary_table(doc, guanlab)
    cost = _doc("model_cost", {"cases": [{"model": "mlp", "task": "cite", "estimate_s": 5400.0}]})
    members = table.member_table(doc, cost)
    assert "| mlp | cite | +0.0050 | 1.50 |" in members
    assert "mlp | multi" not in members and "| ridge |" not in members  # no blend without them was measured
    assert "| knn (not default) | cite | +0.0010 | – |" in members  # what an optional model would add
    assert "xgboost" not in members  # a blend with a model the set does not have adds nothing to show
    assert "`bench/model_cost.py` at commit abc1234" in members
    assert table.parse_set("14:10000:wide") == ("seed 14, 10000 cells, wide", "seed14_10000_wide", 14, 10000, "wide")
    assert table.set_sizes(10, "narrow")["cite"]["n_test"] == 5


def test_model_cost_predicts_as_many_multiome_codes_as_the_config_asks():
    """The full-size cost of a Multiome model is measured at the configured target codes (+1), not a fixed width."""
    cost = _load("model_cost")
    config = _load("repo_config").workflow_config()
    config["targets"]["n_components"] = 7
    widths = {c["task"]: c["targets"] for c in cost.cases(config)}
    assert widths == {"cite": 140, "multi": 8}


def test_model_table_footer_names_the_sets_merged_from_an_earlier_run():
    """A set kept by ``--merge`` from another commit's run is named with that commit under every table."""
    table = _load("model_table")
    sets = {"seed 1, 10 cells": {**_SET, "commit": "abc1234"}, "seed 2, 10 cells": {**_SET, "commit": "0ld0ne1"}}
    doc = _doc("model_table", {"defaults": ["mlp", "ridge"], "sets": sets})
    for text in (table.render(doc, "cite"), table.goal_table(doc, {}, {})):
        assert "; 'seed 2, 10 cells': the run at commit 0ld0ne1 (the same workflow code)." in text
    assert "'seed 1, 10 cells'" not in table.render(doc, "cite")


def test_model_table_merge_orders_sets_by_seed_with_the_real_data_last(tmp_path, monkeypatch):
    """Sets run one invocation at a time come out in one order: simulated by seed and cells, the real data last."""
    table = _load("model_table")
    monkeypatch.setattr(table, "run_commit", lambda: "abc1234")
    earlier = {"seed 14, 10000 cells, wide": {"commit": "abc1234"}, "real data": {"commit": "abc1234"}}
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    sets = table.merged(tmp_path / "results.json", {"seed 13, 2000 cells": {}, "seed 12, 1600 cells": {}})
    assert list(sets) == ["seed 12, 1600 cells", "seed 13, 2000 cells", "seed 14, 10000 cells, wide", "real data"]
