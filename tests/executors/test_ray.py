"""`--executor ray` on a real multi-node Ray cluster (a head without CPUs and two one-CPU worker nodes,
all on this machine): the same results as the local executor, a killed worker retried, a lost cluster
reported with the finished cells kept."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from ray.cluster_utils import Cluster

from audit.cli import main
from audit.executors import RayExecutor, build_executor
from audit.extractors import Extractor

# a small sweep: 2 seeds × (none, blur) × (faiss, linear-probe) = 8 cells, 4 cloak jobs (one per user and seed)
SWEEP = ["--users", "2", "--min-photos", "10", "--max-photos", "12", "--seed", "1,2",
         "--cloaker", "fawkes:mode=low,max_step=2", "--tracker", "faiss", "--tracker", "linear-probe",
         "--countermeasure", "blur:kernel=5"]


@pytest.fixture(scope="module")
def cluster():
    """Two worker nodes of one CPU each; the head takes no tasks, so every task runs on a worker node."""
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    for _ in range(2):
        made.add_node(num_cpus=1)
    made.wait_for_nodes()
    yield made
    made.shutdown()


def audit_run(small_lfw, out, *extra):
    result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--out", str(out), *SWEEP, *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def local_report(small_lfw, tmp_path_factory):
    return audit_run(small_lfw, tmp_path_factory.mktemp("local"))


def fresh_cache(monkeypatch, tmp_path):
    """A driver cache of its own, so that this run cloaks again instead of reading earlier cloaks."""
    monkeypatch.setenv("AUDIT_CACHE", str(tmp_path / "cache"))


def test_a_sweep_on_the_cluster_gives_the_local_results(cluster, local_report, small_lfw, tmp_path, monkeypatch):
    fresh_cache(monkeypatch, tmp_path)
    report = audit_run(small_lfw, tmp_path / "ray", "--executor", f"ray:address={cluster.address}")
    assert len(report["results"]) == 8
    assert report["results"] == local_report["results"]
    assert report["skipped"] == local_report["skipped"]
    assert report["cells"] == {"total": 8, "reused": 0, "computed": 8}
    # the cloaked photos came back through the object store into the driver's own cloak store
    stored = list((tmp_path / "cache" / "cloaked").rglob("*.json"))
    assert len(stored) == report["perturbation"]["n_photos"] > 0
    # and so did every embedding the cells computed: the same plan run here embeds nothing
    embedded = []
    real_embed = Extractor.embed
    monkeypatch.setattr(Extractor, "embed", lambda self, chips, batch_size=64: embedded.append(len(chips))
                        or real_embed(self, chips, batch_size))
    again = audit_run(small_lfw, tmp_path / "local-after-ray")
    assert again["cells"]["computed"] == 8 and again["results"] == local_report["results"]
    assert embedded == []


def test_a_targeted_cloak_on_the_cluster_gets_its_candidates_photos(cluster, small_lfw, tmp_path, monkeypatch):
    """Fawkes v0.3 picks each user's target among public identities: the worker gets their photos too."""
    targeted = ["--users", "2", "--min-photos", "10", "--max-photos", "12", "--seed", "1", "--labels", "4",
                "--cloaker", "fawkes-v0.3:max_step=2,target_photos=3", "--tracker", "faiss"]
    reports = {}
    for executor in ("local", f"ray:address={cluster.address}"):
        fresh_cache(monkeypatch, tmp_path / executor.split(":")[0])
        out = tmp_path / executor.split(":")[0] / "out"
        result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--out", str(out), *targeted,
                                           "--executor", executor])
        assert result.exit_code == 0, result.output
        reports[executor.split(":")[0]] = json.loads((out / "report.json").read_text())
    assert reports["ray"]["cloaker"]["per_user"] == reports["local"]["cloaker"]["per_user"]
    assert reports["ray"]["results"] == reports["local"]["results"]
    assert reports["ray"]["perturbation"]["dssim_mean"] == pytest.approx(reports["local"]["perturbation"]["dssim_mean"],
                                                                          rel=1e-3)


def test_a_worker_killed_during_a_cloak_task_is_retried(cluster, local_report, small_lfw, tmp_path, monkeypatch):
    fresh_cache(monkeypatch, tmp_path)
    killed = []

    def kill_the_first_cloak_task():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for pid in processes_titled("ray::cloak"):  # a Ray worker's title names the task it runs
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_first_cloak_task)
    killer.start()
    report = audit_run(small_lfw, tmp_path / "ray", "--executor", f"ray:address={cluster.address},max_retries=2")
    killer.join()
    assert killed, "no cloak task was seen running"
    assert report["results"] == local_report["results"]
    # nothing stored twice: one record per cloaked photo, every cell computed once
    assert len(list((tmp_path / "cache" / "cloaked").rglob("*.json"))) == report["perturbation"]["n_photos"]
    assert report["cells"]["computed"] == 8


def processes_titled(prefix: str) -> list[int]:
    """Processes whose command line starts with `prefix`."""
    return [pid for pid, cmdline in proc_files("cmdline") if cmdline.startswith(prefix.encode())]


def processes_named(name: str) -> list[int]:
    return [pid for pid, comm in proc_files("comm") if comm.strip() == name.encode()]


def proc_files(field: str) -> list[tuple[int, bytes]]:
    found = []
    for path in Path("/proc").glob(f"[0-9]*/{field}"):
        try:
            found.append((int(path.parent.name), path.read_bytes()))
        except OSError:  # the process ended meanwhile
            continue
    return found


def test_a_ray_instance_started_for_the_run_is_stopped_after_it(small_lfw, tmp_path):
    import ray

    raylets = len(processes_named("raylet"))
    cheap = ["--users", "1", "--min-photos", "10", "--max-photos", "12", "--cloaker", "noise:budget=dssim:0.005"]
    result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--out", str(tmp_path), *cheap,
                                       "--executor", "ray:address=local"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "report.json").read_text())["cells"]["computed"] == 1
    assert not ray.is_initialized()
    assert len(processes_named("raylet")) == raylets


def test_a_cluster_that_is_gone_ends_the_run_with_a_clear_message(small_lfw, tmp_path):
    result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--out", str(tmp_path), *SWEEP,
                                       "--executor", "ray:address=127.0.0.1:1"])
    assert result.exit_code != 0
    assert "ray: no cluster at '127.0.0.1:1'" in result.output


def test_ray_options_are_checked():
    assert repr(build_executor("ray:num_gpus_per_cloak=1")) == (
        "RayExecutor(address=None, num_cpus_per_cloak=1, num_gpus_per_cloak=1.0, num_cpus_per_cell=1, "
        "num_gpus_per_cell=0, max_retries=2, lost_after=300.0)")
    with pytest.raises(ValueError, match="cannot be negative"):
        RayExecutor(num_cpus_per_cell=-1)
    with pytest.raises(ValueError, match="unknown executor 'spark'"):
        build_executor("spark")
