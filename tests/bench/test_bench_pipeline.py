"""mlops.bench.pipeline's pure parts: container spans from Docker events, tasks matched to
their containers, stamped output lines, the share outside containers and the JSON. No Docker,
no pipeline run, seconds."""

import pytest

from mlops.bench import pipeline as bp

T0 = 1_000_000.0
IMG = "localhost:5000/mlops/{}:abc@sha256:0{}"


def event(action, cid, at, image, name="x"):
    return {
        "Type": "container",
        "Action": action,
        "status": action,
        "id": cid,
        "from": image,
        "Actor": {"ID": cid, "Attributes": {"image": image, "name": name}},
        "time": int(at),
        "timeNano": int(at * 1e9),
    }


def task(name, component, start, end, peak=2**30):
    return {
        "task": name,
        "status": "SUCCESS",
        "image_ref": IMG.format(component, len(component)),
        "started_at": start,
        "ended_at": end,
        "peak_rss_bytes": peak,
        "peak_memory_bytes": peak + 2**20,
    }


EVENTS = [
    event("create", "a", T0 + 1.0, IMG.format("extract_data", 12)),
    event("start", "a", T0 + 1.1, IMG.format("extract_data", 12)),
    event("start", "t", T0 + 2.0, "mlops-test/other:1"),  # another job's container
    event("die", "a", T0 + 11.1, IMG.format("extract_data", 12)),
    event("start", "b", T0 + 11.5, IMG.format("train_model", 11)),
    event("die", "b", T0 + 31.5, IMG.format("train_model", 11)),
    event("start", "s", T0 + 33.0, IMG.format("deploy_model", 12), "mlops-serving-taxi"),
]
TASKS = [
    task("extract-data", "extract_data", T0 + 0.8, T0 + 11.3),
    task("train-model", "train_model", T0 + 11.3, T0 + 31.8, peak=600 * 2**20),
]
LINES = [
    (T0 + 0.5, "[images] extract_data: local in 0.1s"),
    (T0 + 0.6, "[images] train_model: built in 4.5s"),
    (T0 + 0.7, "[build] done in 3.2s"),
    (T0 + 1.0, "06:10:11.950 - INFO - Executing task 'extract-data'"),
    (T0 + 3.1, "/opt/venv/.../google/api_core: FutureWarning"),
    (T0 + 4.0, "2026-11-25 I tensorflow/core/util/port.cc:113] oneDNN custom operations"),
    (T0 + 12.0, ""),
    (T0 + 15.6, "2026-11-25 I tensorflow/core/util/port.cc:113] oneDNN custom operations"),
]


def test_container_spans_pair_start_and_die_in_start_order():
    spans = bp.container_spans(EVENTS)
    assert [s["id"] for s in spans] == ["a", "t", "b", "s"]
    assert spans[0]["start"] == pytest.approx(T0 + 1.1) and spans[0]["end"] == pytest.approx(
        T0 + 11.1
    )
    assert spans[-1]["end"] is None and spans[-1]["name"] == "mlops-serving-taxi"


def test_a_task_matches_its_own_image_within_its_times_once():
    spans = bp.container_spans(EVENTS)
    used: set[str] = set()
    assert bp.match_container(TASKS[0], spans, used)["id"] == "a"
    assert bp.match_container(TASKS[0], spans, used) is None  # not twice
    late = {**TASKS[1], "started_at": T0 + 100, "ended_at": T0 + 120}
    assert bp.match_container(late, spans, used) is None


def test_first_line_skips_kfp_logging_blank_lines_and_other_windows():
    at, text = bp.first_line_after(LINES, T0 + 1.1, T0 + 11.1)
    assert at == T0 + 3.1 and "FutureWarning" in text
    assert bp.first_line_after(LINES, T0 + 1.1, T0 + 11.1, ("oneDNN",))[0] == T0 + 4.0
    assert bp.first_line_after(LINES, T0 + 11.5, T0 + 31.5)[0] == T0 + 15.6
    assert bp.first_line_after(LINES, T0 + 40, None) is None


def test_split_stamped_keeps_the_time_a_line_began():
    lines, rest, rest_at = bp.split_stamped(b"a\nb", 1.0, 1.0)
    assert lines == [(1.0, "a")] and rest == b"b" and rest_at == 1.0
    lines, rest, rest_at = bp.split_stamped(rest + b"c\nd\ne", rest_at, 2.5)
    assert lines == [(1.0, "bc"), (2.5, "d")] and rest == b"e" and rest_at == 2.5
    lines, rest, rest_at = bp.split_stamped(b"no newline", 3.0, 4.0)
    assert lines == [] and rest_at == 3.0


def test_outside_share_counts_steps_side_by_side_once():
    # 0-30 alone, then 40-60 and 50-80 overlapping: 30 + 40 s covered, 80 s busy.
    share = bp.outside_share(100.0, [(0.0, 30.0), (50.0, 80.0), (40.0, 60.0)])
    assert share == {
        "inside_containers_s": 70.0,
        "outside_containers_s": 30.0,
        "outside_share": 0.3,
        "containers_busy_s": 80.0,
        "mean_containers_running": 1.14,
    }
    assert bp.covered_s([(0.0, 10.0), (2.0, 5.0)]) == 10.0  # one inside another
    assert bp.outside_share(0.0, [])["outside_share"] is None


def test_build_actions_from_the_build_output():
    text = "\n".join(line for _, line in LINES)
    assert bp.build_actions(text) == {
        "extract_data": {"action": "local", "seconds": 0.1},
        "train_model": {"action": "built", "seconds": 4.5},
    }


def _run_figures(label="warm", wall=40.0):
    run = {
        "id": "r1",
        "status": "SUCCEEDED",
        "started_at": T0 + 0.8,
        "ended_at": T0 + 32.0,
        "tasks": TASKS,
    }
    return bp.run_figures(label, wall, 250.0, T0, T0 + wall, run, bp.container_spans(EVENTS), LINES)


def test_run_figures_steps_phases_and_share():
    f = _run_figures()
    assert f["make_run_s"] == 40.0 and f["build_s"] == 3.2
    assert f["images"]["train_model"]["action"] == "built"
    extract, train = f["steps"]
    assert extract["container_s"] == 10.0 and extract["seconds"] == 10.5
    assert extract["task_outside_container_s"] == 0.5
    assert extract["first_log_line_s"] == 2.0 and extract["tensorflow_message_s"] == 2.9
    assert train["peak_rss_mb"] == 600.0 and train["image"].endswith("train_model:abc")
    assert f["inside_containers_s"] == 30.0 and f["outside_share"] == 0.25
    assert f["phases_s"] == {"before_pipeline": 0.8, "pipeline": 31.2, "after_pipeline": 8.0}
    assert f["pipeline_orchestration_s"] == 1.2
    assert f["every_step_in_own_container"] and f["service_container_started"]


def test_a_step_without_its_own_container_fails_the_container_check():
    run = {"id": "r", "status": "SUCCEEDED", "started_at": T0, "ended_at": T0 + 32, "tasks": TASKS}
    f = bp.run_figures("warm", 40.0, 1.0, T0, T0 + 40, run, [], LINES)
    assert not f["every_step_in_own_container"]
    assert "container_s" not in f["steps"][0]
    assert f["outside_share"] == 1.0


@pytest.mark.parametrize("wall, met", [(40.0, True), (60.0, True), (61.0, False)])
def test_assemble_target_on_the_warm_run(wall, met):
    cold = _run_figures("cold", 200.0)
    warm = _run_figures("warm", wall)
    result = bp.assemble(
        cold,
        warm,
        {"registry_manifests_deleted": 8},
        {"train_model": True},
        {"seconds": {"cold_build_s": 349.29}},
        {"cpus": 2},
    )
    assert result["target"]["met"] is met
    assert result["warm_to_cold_ratio"] == round(wall / 200.0, 3)
    assert "349.29" in result["cold"]["base_image"]
    assert result["cold"]["component_images_rebuilt"] == {"train_model": True}
    assert result["reference_tfx_1_21"]["total_s"] == 77


def test_assemble_fails_the_target_when_a_step_shares_a_container():
    warm = {**_run_figures("warm", 30.0), "every_step_in_own_container": False}
    result = bp.assemble(_run_figures("cold", 100.0), warm, {}, {}, None, {})
    assert result["target"]["met"] is False
    assert "None" in result["cold"]["base_image"]


def _run(make_run_s, pipeline_s, steps):
    return {
        "make_run_s": make_run_s,
        "phases_s": {"pipeline": pipeline_s},
        "steps": [
            {"task": t, "seconds": s, "cached": s is None, "peak_memory_mb": m}
            for t, s, m in steps
        ],
    }


UNCACHED = _run(
    50.0, 45.0, [("extract-data", 3.0, 300), ("transform-data", 16.0, 600),
                 ("train-model", 12.0, 700), ("deploy-model", 1.0, 50)],
)  # fmt: skip


def test_cached_runs_are_measured_against_the_uncached_warm_run():
    figures = bp.cached_figures(
        UNCACHED,
        {
            "no_change": _run(4.0, 1.5, [("extract-data", None, None), ("deploy-model", 1.0, 50)]),
            "transform_change": _run(
                34.0, 31.0,
                [("extract-data", None, None), ("transform-data", 17.0, 600),
                 ("train-model", 12.5, 700), ("deploy-model", 1.0, 50)],
            ),  # fmt: skip
        },
    )
    no_change = figures["no_change"]
    assert no_change["to_uncached_warm"] == 0.08 and no_change["target"]["met"]
    assert no_change["steps_cached"] == ["extract-data"]
    partial = figures["transform_change"]
    assert partial["steps_rerun"] == ["transform-data", "train-model", "deploy-model"]
    assert partial["uncached_seconds_of_rerun_steps"] == 29.0
    assert partial["pipeline_to_uncached_rerun_steps"] == round(31.0 / 29.0, 3)
    assert partial["target"]["met"]  # 31 <= 29 * 1.1
    slow = bp.cached_figures(UNCACHED, {"from_train": _run(40.0, 33.0, [("train-model", 30, 1)])})
    assert not slow["from_train"]["target"]["met"]  # 33 > 12 * 1.1


def test_scale_figures_set_each_step_beside_its_1x_figures():
    many = _run(
        180.0, 170.0, [("extract-data", 11.0, 600), ("transform-data", 32.0, 900),
                       ("train-model", 51.0, 1400), ("deploy-model", 1.0, 50)],
    )  # fmt: skip
    figures = bp.scale_figures(UNCACHED, many, 10)
    by_task = {s["task"]: s for s in figures["steps"]}
    assert by_task["train-model"]["time_ratio"] == 4.25
    assert by_task["transform-data"]["memory_ratio"] == 1.5
    assert figures["fastest_growing_step"] == "train-model"
    assert figures["make_run_s_10x"] == 180.0
