"""Every registered tracker on real photos, and each one's ranking rules on known embeddings."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audit.datasets.embedded import EmbeddedGallery
from audit.plugins import registered
from tests.cloud_clients.servers import SERVICES, tracker_spec
from trackers import BUILT_IN, build_tracker
from trackers.faiss_search import gallery_index


def clusters(n_per: int = 10, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = {"ann": np.zeros(8), "bob": np.full(8, 3.0), "cid": np.r_[np.full(4, 3.0), np.zeros(4)]}
    vectors, labels = [], []
    for name, centre in centres.items():
        vectors.append(centre + 0.3 * rng.standard_normal((n_per, 8)))
        labels += [name] * n_per
    return np.vstack(vectors).astype(np.float32), labels


# A tracker that learns from 8 photos per identity alone cannot match a pretrained model; chance is 25%. Its
# accuracy on these 16 photos also swings with its seed (scratch: 44-69% over seeds 0-7), and with the processor's
# rounding for any one seed, so it is pooled over 3 seeds: 40% of 48 is a level chance reaches with p < 0.01.
ACCURACY_FLOOR = {"scratch": 0.4}
SEEDS = {"scratch": 3}


@pytest.mark.parametrize("name", sorted(registered("tracker")))
def test_every_registered_tracker_identifies_real_lfw_photos(name, small_lfw, request):
    people = sorted(d for d in small_lfw.iterdir())[:4]
    train = [p for d in people for p in sorted(d.glob("*.jpg"))[:8]]
    test = [p for d in people for p in sorted(d.glob("*.jpg"))[8:]]
    specs = [f"{name}:seed={seed}" for seed in range(SEEDS[name])] if name in SEEDS else [name]
    if name in SERVICES:  # a cloud tracker talks to its service's local stand-in
        service = SERVICES[name](request.getfixturevalue("face_matcher"))
        request.getfixturevalue("cloud_credentials")
        request.addfinalizer(service.__exit__)
        specs = [tracker_spec(service.__enter__())]
    correct = []
    for spec in specs:
        tracker = build_tracker(spec).fit(train, [p.parent.name for p in train])
        ranking = tracker.predict(test, depth=2)
        assert set(ranking.ranked) | set(ranking.skipped) == set(test)
        correct += [ranking.top(p) == [p.parent.name] for p in ranking.ranked]
        assert all(len(r) <= 2 for r in ranking.ranked.values())
        assert repr(tracker).startswith(type(tracker).__name__ + "(")
        tracker.close()
    assert np.mean(correct) >= ACCURACY_FLOOR.get(name, 0.9)
    if name in SERVICES:
        assert service.galleries == {}


@pytest.mark.parametrize("spec", ["faiss", "faiss:index=ivf,nlist=3", "faiss:index=hnsw", "faiss:k=5",
                                  "linear-probe", "linear-probe:head=softmax"])
def test_rankings_on_separated_clusters(spec):
    vectors, labels = clusters()
    tracker = build_tracker(spec)
    tracker.fit_embeddings(vectors, labels)
    queries, truth = clusters(seed=1)
    ranked = tracker.rank_embeddings(queries, depth=3)
    assert [r[0] for r in ranked] == truth
    assert all(sorted(r) == ["ann", "bob", "cid"] for r in ranked)


def test_faiss_vote_and_threshold():
    gallery = np.array([[0.0], [0.1], [1.0], [1.05], [1.1]], np.float32)
    labels = ["ann", "ann", "bob", "bob", "bob"]
    nearest = build_tracker("faiss")
    nearest.fit_embeddings(gallery, labels)
    voting = build_tracker("faiss:k=5")
    voting.fit_embeddings(gallery, labels)
    query = np.array([[0.4]], np.float32)
    assert nearest.rank_embeddings(query, 2) == [["ann", "bob"]]
    assert voting.rank_embeddings(query, 2) == [["bob", "ann"]]  # three bob votes beat two ann
    strict = build_tracker("faiss:threshold=0.2")
    strict.fit_embeddings(gallery, labels)
    assert strict.rank_embeddings(np.array([[0.5], [0.05]], np.float32), 1) == [[], ["ann"]]
    # rank-k as a search service answers it: identities beyond the threshold are no match either
    assert strict.rank_embeddings(np.array([[0.05]], np.float32), 2) == [["ann"]]


def test_tracker_options_are_checked():
    with pytest.raises(ValueError, match="unknown option"):
        build_tracker("faiss:neighbours=3")
    with pytest.raises(ValueError, match="not a valid"):
        build_tracker("faiss:k=three")
    with pytest.raises(ValueError, match="index='kd'"):
        build_tracker("faiss:index=kd")
    with pytest.raises(ValueError, match="unknown tracker"):
        build_tracker("rekognition-ish")
    assert set(BUILT_IN) == {"faiss", "linear-probe", "scratch", "rekognition", "azure", "facepp"}


def test_linear_probe_is_deterministic():
    vectors, labels = clusters()
    queries, _ = clusters(seed=2)
    scores = []
    for _ in range(2):
        tracker = build_tracker("linear-probe:head=softmax,seed=7")
        tracker.fit_embeddings(vectors, labels)
        scores.append(tracker.scores(queries))
    assert np.array_equal(*scores)


def test_fit_needs_two_identities(small_lfw):
    photos = sorted(next(iter(sorted(small_lfw.iterdir()))).glob("*.jpg"))[:3]
    with pytest.raises(ValueError, match="fewer than two identities"):
        build_tracker("faiss").fit(photos, [Path(p).parent.name for p in photos])


@pytest.mark.parametrize("spec", ["faiss", "faiss:index=ivf", "faiss:index=hnsw"])
def test_faiss_joins_precomputed_embeddings_of_its_own_extractor(spec, small_lfw):
    """Distractor embeddings computed beforehand join the index as they are, indexed once for every fit;
    another model's are refused."""
    people = sorted(small_lfw.iterdir())[:3]
    train = [p for d in people[:2] for p in sorted(d.glob("*.jpg"))[:4]]
    labels = [p.parent.name for p in train]
    stranger = sorted(people[2].glob("*.jpg"))
    tracker = build_tracker(spec)
    vectors, kept, _ = tracker.embed(stranger[:6], "strangers")
    gallery = EmbeddedGallery(source="strangers.npz", extractor="dlib-resnet",
                              embedding_id=tracker.pipeline.extractor.embedding_id, embeddings=vectors,
                              identities=np.array(["stranger"] * len(kept)), digest=spec)
    tracker.fit(train, labels, precomputed=gallery)
    assert tracker.index_.ntotal == len(train) + len(kept)
    ranking = tracker.predict(stranger[6:])
    assert np.mean([ranking.top(p) == ["stranger"] for p in ranking.ranked]) >= 0.9
    indexed = gallery_index(tracker, gallery)
    again = build_tracker(spec).fit(train[1:], labels[1:], precomputed=gallery)
    assert gallery_index(again, gallery) is indexed and indexed.ntotal == len(kept)  # copied, never added to
    assert again.index_.ntotal == len(train) - 1 + len(kept)
    other_model = replace(gallery, embedding_id="mobilefacenet|weights|112")
    with pytest.raises(ValueError, match="holds embeddings of mobilefacenet.*embed the distractors with its extractor"):
        build_tracker("faiss").fit(train, labels, precomputed=other_model)
    with pytest.raises(ValueError, match="only a search tracker's gallery takes precomputed embeddings"):
        build_tracker("linear-probe").fit(train, labels, precomputed=gallery)


@pytest.mark.parametrize("arch", ["convnet", "resnet"])
def test_scratch_tracker_learns_from_its_photos_and_is_deterministic(arch, small_lfw):
    people = sorted(d for d in small_lfw.iterdir())[:4]
    train = [p for d in people for p in sorted(d.glob("*.jpg"))[:10]]
    labels = [p.parent.name for p in train]
    tracker = build_tracker(f"scratch:arch={arch},size=48,epochs=15")
    tracker.fit(train, labels)
    assert tracker.losses_[-1] < 0.7 * tracker.losses_[0]
    again = build_tracker(f"scratch:arch={arch},size=48,epochs=15").fit(train, labels)
    vectors, _, _ = tracker.embed(train[:4], "check")
    assert tracker.rank_embeddings(vectors, 4) == again.rank_embeddings(vectors, 4)
    assert tracker.params()["arch"] == arch and "extractor" not in tracker.params()


def test_scratch_tracker_options_are_checked():
    with pytest.raises(ValueError, match="arch='vgg'"):
        build_tracker("scratch:arch=vgg")
    with pytest.raises(ValueError, match="size must be at least 32"):
        build_tracker("scratch:size=16")
    with pytest.raises(ValueError, match="unknown option"):
        build_tracker("scratch:extractor=dlib-resnet")


@pytest.mark.parametrize("n, nlist, nprobe", [(400, 10, 8), (20_000, 512, 26)])
def test_ivf_defaults_follow_the_gallery_size(n, nlist, nprobe):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    tracker = build_tracker("faiss:index=ivf")
    tracker.fit_embeddings(vectors, [f"id{i // 4}" for i in range(n)])
    assert (tracker.index_.nlist, tracker.index_.nprobe) == (nlist, nprobe)
    assert tracker.rank_embeddings(vectors[:50], 1) == [[f"id{i // 4}"] for i in range(50)]


def test_hnsw_searches_with_its_ef_search():
    vectors, labels = clusters()
    tracker = build_tracker("faiss:index=hnsw,ef_search=24")
    tracker.fit_embeddings(vectors, labels)
    assert tracker.index_.hnsw.efSearch == 24
    assert [r[0] for r in tracker.rank_embeddings(vectors, 1)] == labels
