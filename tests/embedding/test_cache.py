from dataclasses import replace

import numpy as np

from audit.embedding.cache import Cached, EmbeddingCache
from audit.embedding.pipeline import FacePipeline
from audit.extractors import load_extractor
from audit.extractors.mobilefacenet import MobileFaceNetSpec
from audit.face.cache import FaceCache
from audit.face.detection import MtcnnDetector
from audit.images import read_image
from tests.conftest import lfw_sample


def test_cache_round_trip(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    cache.put_many("p", {"a": Cached(np.arange(3, dtype=np.float32), "centre crop"), "b": Cached("no face detected")})
    found = EmbeddingCache(tmp_path / "c.sqlite").get_many("p", ["a", "b", "c"])
    assert np.array_equal(found["a"].value, [0, 1, 2]) and found["a"].note == "centre crop"
    assert found["b"] == Cached("no face detected", None) and "c" not in found
    assert cache.get_many("other pipeline", ["a"]) == {}


def test_second_run_computes_nothing(lfw_root, tmp_path, dlib_resnet):
    photos = sorted((lfw_root / "Abel_Pacheco").glob("*.jpg"))
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    pipeline = FacePipeline(dlib_resnet)
    first = pipeline.embed_files(photos, cache, progress=False)
    assert cache.count(pipeline.cache_id) == len(photos)

    class Refuse:
        def detect(self, image):
            raise AssertionError("the cache should have answered")

        cache_id = pipeline.face_detector.cache_id

    pipeline.face_detector = Refuse()
    second = pipeline.embed_files(photos, cache, progress=False)
    assert np.array_equal(first.embeddings, second.embeddings) and first.paths == second.paths


def test_cache_key_changes_with_the_pipeline(dlib_resnet):
    mtcnn = FacePipeline(dlib_resnet).cache_id
    assert FacePipeline(dlib_resnet, fallback="centre").cache_id != mtcnn
    assert FacePipeline(dlib_resnet, aligned=True).cache_id != mtcnn
    assert dlib_resnet.weights_id in mtcnn
    # a model whose output changed for the same weights (mobilefacenet became unit-length) gets a new key
    assert FacePipeline(replace(dlib_resnet, revision=2)).cache_id != mtcnn
    # the spec's revision reaches the model it loads
    assert load_extractor("mobilefacenet").revision == MobileFaceNetSpec.revision == 2


def test_a_face_is_detected_once_per_photo_whatever_embeds_it(lfw_root, monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIT_CACHE", str(tmp_path))  # an empty face cache
    photos = lfw_sample(lfw_root, 10, seed=3)
    detections = []
    find_many = MtcnnDetector.find_many
    monkeypatch.setattr(MtcnnDetector, "find_many",
                        lambda self, images: detections.extend([1] * len(images)) or find_many(self, images))

    def embed(extractor: str, remember_faces: bool = True) -> np.ndarray:
        pipeline = FacePipeline(load_extractor(extractor), remember_faces=remember_faces)
        return pipeline.embed_files(photos, None, progress=False).embeddings  # no embedding cache: embeds anew

    first = embed("dlib-resnet")
    assert len(detections) == 10
    embed("faceres")  # another extractor: the faces come from the cache
    assert len(detections) == 10
    FaceCache._open.clear()  # as a new process would open it
    assert np.array_equal(embed("dlib-resnet"), first) and len(detections) == 10
    assert np.array_equal(embed("dlib-resnet", remember_faces=False), first)  # the same faces, detected again
    assert len(detections) == 20
    image = read_image(photos[0])
    image[0, 0, 0] ^= 1  # other pixels (a cloaked copy): detected anew, as a tracker would
    FacePipeline(load_extractor("dlib-resnet")).face(image)
    assert len(detections) == 21
