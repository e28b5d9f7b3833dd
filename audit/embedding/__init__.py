"""Photo → face → aligned chip → embedding (`FacePipeline`), and the on-disk cache of embeddings: the floor above
the face detectors (`audit.face`) and the models (`audit.extractors`), which it puts together."""
