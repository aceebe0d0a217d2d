"""The pieces of local_run's task observation that need no engine: the cgroup memory sampler
(against a folder shaped like a container's cgroup), the registry digest of an image, and
that kfp.local is left as it was after an adapted run."""

import time

from mlops.local_runs import runner as local_run
from mlops.local_runs.runner import CgroupMemorySampler, image_digest

PINNED = "sha256:" + "12" * 32


def write_cgroup(folder, max_usage, rss):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.max_usage_in_bytes").write_text(f"{max_usage}\n")
    (folder / "memory.stat").write_text(
        f"cache 4096\nrss {rss}\ntotal_cache 4096\ntotal_rss {rss}\n"
    )


def wait_for(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_sampler_keeps_the_peaks_after_the_cgroup_is_gone(tmp_path):
    folder = tmp_path / "cid"
    write_cgroup(folder, max_usage=5_000_000, rss=3_000_000)
    sampler = CgroupMemorySampler("cid", interval_s=0.01, root=tmp_path).start()
    wait_for(lambda: sampler.max_rss == 3_000_000)
    write_cgroup(folder, max_usage=9_000_000, rss=7_000_000)
    wait_for(lambda: sampler.max_rss == 7_000_000)
    write_cgroup(folder, max_usage=9_000_000, rss=1_000_000)  # RSS falls, the peak stays
    time.sleep(0.05)
    for name in ("memory.max_usage_in_bytes", "memory.stat"):
        (folder / name).unlink()
    folder.rmdir()  # the engine removes the cgroup when the container exits
    peak = sampler.stop()
    assert (peak.max_usage_bytes, peak.max_rss_bytes) == (9_000_000, 7_000_000)


def test_the_sampler_reports_nothing_for_a_cgroup_it_never_saw(tmp_path):
    peak = CgroupMemorySampler("absent", interval_s=0.01, root=tmp_path).start().stop()
    assert (peak.max_usage_bytes, peak.max_rss_bytes) == (None, None)


def test_the_digest_of_an_image_is_the_pinned_one_or_its_repositorys():
    repo_digests = [
        "localhost:5000/other/hello@sha256:" + "99" * 32,
        f"localhost:5000/mlops/hello@{PINNED}",
    ]
    pinned_ref = f"localhost:5000/mlops/hello:abc@{PINNED}"
    assert image_digest(repo_digests, pinned_ref) == f"localhost:5000/mlops/hello@{PINNED}"
    assert image_digest(repo_digests, "localhost:5000/other/hello:dev") == repo_digests[0]
    assert image_digest(repo_digests, "localhost:5000/mlops/nope:dev") is None


def test_the_adapted_runner_restores_kfp_local():
    from kfp.local import dag_orchestrator, docker_task_handler, task_dispatcher

    before = (
        dag_orchestrator.validate_task_spec_not_loop_or_condition,
        docker_task_handler.run_docker_container,
        task_dispatcher.run_single_task_implementation,
    )
    with local_run.docker_runner_adapted(observers=[]):
        assert task_dispatcher.run_single_task_implementation is not before[2]
    after = (
        dag_orchestrator.validate_task_spec_not_loop_or_condition,
        docker_task_handler.run_docker_container,
        task_dispatcher.run_single_task_implementation,
    )
    assert after == before
