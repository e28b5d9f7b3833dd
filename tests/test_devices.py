"""device=auto|cpu|cuda[:N]: options checked before any work, every torch model computing wholly on the device it
is moved to, and (only where torch sees a GPU) the same results on the GPU as on the CPU."""

import json
import resource

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from audit.cli import main
from audit.devices import check_device, exact_float32, module_device, reuse_freed_memory, torch_device
from audit.embedding.pipeline import FacePipeline
from audit.extractors import load_extractor
from audit.extractors.base import padded_to_power_of_two
from audit.images import PhotoSkipped, read_image
from countermeasures import build_countermeasures
from countermeasures.adaptive.robust_retraining import RobustRetraining
from tests.conftest import lfw_sample
from trackers import build_tracker
from trackers.scratch import build_network

GPU = torch.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="torch sees no GPU here (CI has none): the CPU path is tested instead")


class OneDevice(TorchDispatchMode):
    """Records every operation whose tensors lie anywhere but `device` (CPU scalars aside), as a GPU would fail."""

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.device = device
        self.strays: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        tensors = [t for t in tree_flatten((args, kwargs or {}))[0] if isinstance(t, torch.Tensor)]
        if any(t.device != self.device and not (t.device.type == "cpu" and t.dim() == 0) for t in tensors):
            self.strays.append(str(func))
        return func(*args, **(kwargs or {}))


def computes_only_on(module: torch.nn.Module, inputs: torch.Tensor, device: str) -> torch.Tensor:
    """Run `module` moved to `device` on `inputs` there; fail on any weight or constant left behind."""
    module, inputs = module.eval().to(device), inputs.to(device)
    watch = OneDevice(torch.device(device))
    with torch.no_grad(), watch:
        out = module(inputs)
    assert watch.strays == [], f"operations mixing devices: {watch.strays[:5]}"
    return out


def test_device_options_are_checked_before_any_work():
    assert [check_device("x", d) for d in ("auto", "cpu", "cuda", "cuda:1")] == ["auto", "cpu", "cuda", "cuda:1"]
    for bad in ("gpu", "cuda:", "cuda:one", "tpu"):
        with pytest.raises(ValueError, match=f"faiss: device='{bad}'; use auto, cpu or cuda"):
            build_tracker(f"faiss:device={bad}")
    with pytest.raises(ValueError, match="robust-retraining: device='mps'"):
        build_countermeasures("robust-retraining:device=mps")
    assert module_device(torch.nn.Flatten()) == torch.device("cpu")  # no weights: the CPU


def test_exact_float32_turns_tf32_off_inside_and_restores_it_after_an_error():
    flags = torch.backends.cudnn, torch.backends.cuda.matmul
    before = [flag.allow_tf32 for flag in flags]
    torch.backends.cudnn.allow_tf32 = True
    try:
        with pytest.raises(KeyError), exact_float32():
            assert [flag.allow_tf32 for flag in flags] == [False, False]
            raise KeyError("inside")
        assert torch.backends.cudnn.allow_tf32
    finally:
        for flag, allowed in zip(flags, before):
            flag.allow_tf32 = allowed


def test_gpu_passes_are_padded_to_a_few_batch_shapes():
    rows = {n: padded_to_power_of_two(torch.full((n, 3, 2, 2), 7.0), 256) for n in (1, 3, 5, 17, 200, 256)}
    assert {n: len(batch) for n, batch in rows.items()} == {1: 1, 3: 4, 5: 8, 17: 32, 200: 256, 256: 256}
    assert (rows[5][:5] == 7).all() and (rows[5][5:] == 0).all()
    assert len(padded_to_power_of_two(torch.zeros(10, 3), 12)) == 12  # never past the pass size


@pytest.mark.skipif(GPU, reason="checks a machine without a GPU")
def test_without_a_gpu_auto_is_the_cpu_and_a_named_gpu_fails_before_the_run(small_lfw, tmp_path):
    assert torch_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="device=cuda:0: torch sees 0 GPU"):
        torch_device("cuda:0")
    result = CliRunner().invoke(main, ["run", "--dataset", str(small_lfw), "--out", str(tmp_path), "--users", "2",
                                       "--cloaker", "noise", "--tracker", "linear-probe:device=cuda"])
    assert result.exit_code != 0 and "device=cuda: torch sees 0 GPU" in result.output
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("name", ["dlib-resnet", "mobilefacenet", "faceres"])
def test_every_extractor_computes_wholly_on_the_device_it_is_moved_to(name):
    # the meta device stands in for a GPU: a weight or constant that .to() does not move is caught here
    extractor = load_extractor(name)
    size = extractor.input_size
    out = computes_only_on(extractor.module, torch.zeros(2, 3, size, size), "meta")
    assert out.shape == (2, extractor.embedding_dim)


@pytest.mark.parametrize("arch", ["convnet", "resnet"])
def test_the_scratch_network_and_mtcnn_networks_compute_wholly_on_their_device(arch):
    computes_only_on(build_network(arch, 8, 5), torch.zeros(2, 3, 64, 64), "meta")
    from audit.face.mtcnn import BatchedMtcnn

    mtcnn = BatchedMtcnn(20, (0.6, 0.7, 0.7), torch.device("meta"))  # a CPU's R-Net and O-Net use oneDNN's layout
    for network, size in ((mtcnn.pnet, 40), (mtcnn.rnet, 24), (mtcnn.onet, 48)):
        computes_only_on(network, torch.zeros(2, 3, size, size), "meta")


def test_torch_work_on_a_cpu_reuses_the_memory_it_freed():
    """`audit` starts with `reuse_freed_memory` (and so does this test session, in conftest.py). Without it a second
    pass of faceres over 32 chips (activations of 50 MB) took 200,000 page faults or more on fresh pages, and with
    malloc trimming freed memory past 256 MB, once 300,000; with it, at most 1,600 in eight sessions."""
    assert reuse_freed_memory()  # glibc's malloc, as on CI
    faceres = load_extractor("faceres")
    chips = torch.rand(32, 3, faceres.input_size, faceres.input_size, generator=torch.Generator().manual_seed(0)) * 255
    faceres.embed(chips)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    faceres.embed(chips)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 20_000


@needs_gpu
@pytest.mark.parametrize("name", ["dlib-resnet", "mobilefacenet", "faceres"])
def test_detection_and_embedding_agree_on_the_gpu(name, lfw_root):
    photos = [read_image(p) for p in lfw_sample(lfw_root, 32)]
    on = {device: FacePipeline(load_extractor(name), device=device, remember_faces=False) for device in ("cpu", "cuda")}
    faces = {device: pipeline.faces(photos) for device, pipeline in on.items()}
    for cpu_face, gpu_face in zip(faces["cpu"], faces["cuda"]):
        assert (cpu_face is None) == (gpu_face is None)
        if cpu_face is not None:
            # in TF32 (torch's default for cuDNN) some faces moved by over 0.5 px; MTCNN runs in float32
            assert np.abs(cpu_face.landmarks - gpu_face.landmarks).max() <= 0.01
    chips = torch.stack([found[0] for found in on["cpu"].chips(photos) if not isinstance(found, PhotoSkipped)])
    cpu, gpu = (pipeline.extractor.embed(chips) for pipeline in on.values())
    cosine = (cpu * gpu).sum(1) / np.linalg.norm(cpu, axis=1) / np.linalg.norm(gpu, axis=1)
    assert cosine.min() > 0.999  # cuDNN convolutions may run in TF32


@needs_gpu
@pytest.mark.parametrize("name", ["dlib-resnet", "mobilefacenet"])
def test_gpu_embedding_meets_only_power_of_two_batches_and_pads_harmlessly(name):
    extractor = load_extractor(name)
    extractor.module.to("cuda")
    shapes = set()
    extractor.module.register_forward_pre_hook(lambda _, inputs: shapes.add(len(inputs[0])))
    chips = torch.rand(40, 3, extractor.input_size, extractor.input_size) * 255
    alone = np.concatenate([extractor.embed(chips[i : i + 1]) for i in range(len(chips))])
    for n in range(1, 41):
        embedded = extractor.embed(chips[:n], batch_size=32)
        assert embedded.shape == (n, extractor.embedding_dim)
        assert np.allclose(embedded, alone[:n], atol=1e-3)
    assert shapes == {1, 2, 4, 8, 16, 32}


@needs_gpu
def test_robust_retraining_fine_tunes_alike_on_the_gpu(lfw_root):
    photos = [read_image(p) for p in lfw_sample(lfw_root, 16)]
    losses = {}
    for device in ("cpu", "cuda"):
        pipeline = FacePipeline(load_extractor("dlib-resnet"), device=device, remember_faces=False)
        chips = torch.stack([found[0] for found in pipeline.chips(photos) if not isinstance(found, PhotoSkipped)])
        pairs = torch.stack([chips, chips.flip(-1)], dim=1)  # any pairs will do: the arithmetic is compared
        model, losses[device] = RobustRetraining(epochs=2, batch_size=8, device=device).fine_tune(
            pipeline.extractor.module, pairs)
        assert module_device(model).type == "cpu"  # saved as TorchScript for any machine
    assert np.allclose(losses["cpu"], losses["cuda"], rtol=1e-2)


@needs_gpu
def test_a_run_on_the_gpu_gives_the_cpu_results(small_lfw, tmp_path, monkeypatch):
    trackers = ["faiss", "linear-probe:head=softmax", "scratch:epochs=5"]
    results = {}
    for device in ("cpu", "cuda"):
        monkeypatch.setenv("AUDIT_CACHE", str(tmp_path / f"cache-{device}"))  # nothing computed on one is reused
        args = ["run", "--dataset", str(small_lfw), "--out", str(tmp_path / device), "--users", "2",
                "--min-photos", "10", "--max-photos", "12",
                "--cloaker", f"fawkes:mode=low,max_step=5,device={device}"]
        for tracker in trackers:
            args += ["--tracker", f"{tracker}{',' if ':' in tracker else ':'}device={device}"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        results[device] = json.loads((tmp_path / device / "report.json").read_text())["results"]
    assert len(results["cpu"]) == len(results["cuda"]) == len(trackers)
    for cpu, gpu in zip(results["cpu"], results["cuda"]):
        # float rounding may move a borderline photo: at most one per rate
        for rate in ("protection", "control", "normal_accuracy"):
            one_photo = 1 / max(cpu[rate]["n_photos"], 1)
            assert abs(cpu[rate]["rate"] - gpu[rate]["rate"]) <= one_photo + 1e-9, (cpu["tracker"], rate)

