"""Search at the size of a real tracker's gallery: flat, IVF and HNSW FAISS indexes over a million
128-d vectors shaped like dlib-resnet embeddings, recall@1 against exact search, queries/s, memory.

    AUDIT_DATA=../shared/datasets python bench/bench_gallery.py [--gallery 1000000] [--queries 1000]

The gallery is synthetic but shaped by LFW: identities are Gaussian clusters whose centres follow
the between-identity mean and covariance of real dlib-resnet embeddings (LFW people with ≥ 2
photos), and whose photos scatter with the pooled within-identity covariance. Queries are fresh
photos of gallery identities. Target: IVF or HNSW recall@1 ≥ 0.99 at ≥ 1,000 queries/s on 2 cores.
With a GPU build of FAISS (faiss-gpu) that sees a GPU, flat and IVF are also searched there.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

LFW = Path(os.environ.get("AUDIT_DATA", Path(__file__).resolve().parents[2] / "shared" / "datasets")) / "lfw"


def lfw_statistics(photos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and between-identity covariance of identity centres, and the pooled within-identity covariance,
    from the dlib-resnet embeddings of up to `photos` LFW photos of people with several photos."""
    from audit.embedding.pipeline import FacePipeline
    from audit.extractors import load_extractor

    people = [d for d in sorted(LFW.iterdir()) if d.is_dir() and len(list(d.glob("*.jpg"))) >= 2]
    random.Random(0).shuffle(people)
    paths: list[Path] = []
    for person in people:
        paths += sorted(person.glob("*.jpg"))[:6]
        if len(paths) >= photos:
            break
    result = FacePipeline(load_extractor("dlib-resnet")).embed_cached(paths, "LFW embeddings")
    by_person: dict[str, list[np.ndarray]] = defaultdict(list)
    for path, vector in zip(result.paths, result.embeddings):
        by_person[path.parent.name].append(vector)
    groups = [np.stack(v) for v in by_person.values() if len(v) >= 2]
    centres = np.stack([g.mean(0) for g in groups])
    within = np.concatenate([g - g.mean(0) for g in groups])
    dof = len(within) - len(groups)
    return centres.mean(0), np.cov(centres.T), within.T @ within / dof


def synthetic(mean: np.ndarray, between: np.ndarray, within: np.ndarray, n: int, per_identity: int,
              queries: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n gallery vectors (n / per_identity identities) and `queries` fresh photos of gallery identities."""
    identities = n // per_identity
    centres = (mean + rng.standard_normal((identities, len(mean))) @ square_root(between).T).astype(np.float32)
    scatter = square_root(within).astype(np.float32)
    gallery = np.empty((identities * per_identity, len(mean)), np.float32)
    for start in range(0, identities, 10_000):
        block = centres[start : start + 10_000]
        noise = rng.standard_normal((len(block), per_identity, len(mean)), dtype=np.float32) @ scatter.T
        rows = slice(start * per_identity, (start + len(block)) * per_identity)
        gallery[rows] = (block[:, None] + noise).reshape(-1, len(mean))
    who = rng.integers(0, identities, queries)
    probes = centres[who] + rng.standard_normal((queries, len(mean)), dtype=np.float32) @ scatter.T
    return gallery, probes.astype(np.float32)


def square_root(covariance: np.ndarray) -> np.ndarray:
    """R with R·Rᵀ = covariance, for a covariance that may be singular (fewer identities than dimensions)."""
    values, vectors = np.linalg.eigh(covariance)
    return vectors * np.sqrt(np.clip(values, 0, None))


def index_mib(index) -> float:
    """The index's size as FAISS writes it (vectors, lists and graph links)."""
    import faiss

    return faiss.serialize_index(index).nbytes / 2**20


def timed_search(index, probes: np.ndarray, repeats: int = 3) -> tuple[np.ndarray, float]:
    """Nearest neighbour of each probe, and the best queries/s over `repeats` passes."""
    best = 0.0
    for _ in range(repeats):
        began = time.perf_counter()
        _, found = index.search(probes, 1)
        best = max(best, len(probes) / (time.perf_counter() - began))
    return found[:, 0], best


def recall_row(label: str, found: np.ndarray, rate: float, truth: np.ndarray, flat_rate: float) -> str:
    """One line of the table: an index's recall@1 against exact search, and its speed against flat's."""
    return f"{label:24} recall@1 {np.mean(found == truth):.4f}  {rate:9.0f} q/s  ({rate / flat_rate:.0f}x flat)"


def on_gpu(faiss):
    """A function copying a CPU index to the first GPU, when FAISS is a GPU build that sees one (else None);
    HNSW has no GPU form."""
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return None
    resources = faiss.StandardGpuResources()
    return lambda index: faiss.index_cpu_to_gpu(resources, 0, index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--per-identity", type=int, default=10)
    parser.add_argument("--lfw-photos", type=int, default=1500, help="LFW photos the statistics come from")
    parser.add_argument("--nprobe", default="8,16,32,64", help="IVF probes to sweep")
    parser.add_argument("--ef-search", default="16,32,64,128", help="HNSW efSearch values to sweep")
    args = parser.parse_args()
    import faiss

    mean, between, within = lfw_statistics(args.lfw_photos)
    print(f"LFW: between-identity spread {np.sqrt(np.trace(between)):.3f}, within {np.sqrt(np.trace(within)):.3f} "
          "(root of the covariance trace)")
    began = time.perf_counter()
    gallery, probes = synthetic(mean, between, within, args.gallery, args.per_identity, args.queries,
                                np.random.default_rng(0))
    dim = gallery.shape[1]
    print(f"gallery {len(gallery):,} × {dim}, {args.queries} queries, built in {time.perf_counter() - began:.0f} s; "
          f"FAISS {faiss.__version__}, {faiss.omp_get_max_threads()} threads, {os.cpu_count()} cores")

    flat = faiss.IndexFlatL2(dim)
    flat.add(gallery)
    truth, flat_rate = timed_search(flat, probes, repeats=1)
    print(f"{'flat':24} recall@1 1.0000  {flat_rate:9.0f} q/s  {index_mib(flat):.0f} MiB")
    gpu = on_gpu(faiss)
    if gpu:
        print(recall_row("flat, GPU", *timed_search(gpu(flat), probes), truth, flat_rate))

    nlist = int(4 * np.sqrt(len(gallery)))
    began = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
    ivf.train(gallery[np.random.default_rng(1).choice(len(gallery), min(len(gallery), 64 * nlist), replace=False)])
    ivf.add(gallery)
    built = time.perf_counter() - began
    print(f"ivf nlist={nlist}: built in {built:.0f} s, {index_mib(ivf):.0f} MiB")
    sweeps = [("ivf", ivf, faiss.ParameterSpace())]
    if gpu:
        sweeps.append(("ivf GPU", gpu(ivf), faiss.GpuParameterSpace()))
    for label, index, space in sweeps:
        for nprobe in map(int, args.nprobe.split(",")):
            space.set_index_parameter(index, "nprobe", nprobe)
            print(recall_row(f"  {label} nprobe={nprobe}", *timed_search(index, probes), truth, flat_rate))
    del sweeps, ivf

    began = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, 32)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(gallery)
    built = time.perf_counter() - began
    print(f"hnsw M=32: built in {built:.0f} s, {index_mib(hnsw):.0f} MiB")
    for ef in map(int, args.ef_search.split(",")):
        hnsw.hnsw.efSearch = ef
        print(recall_row(f"  hnsw efSearch={ef}", *timed_search(hnsw, probes), truth, flat_rate))


if __name__ == "__main__":
    main()
