"""A third-party cloaker, as a plugin package would ship it (registered in the entry-point test)."""

import numpy as np

from audit.cloakers import ImageCloaker


class GreyCloak(ImageCloaker):
    """Adds a constant grey level: enough to check that plugins are found and built."""

    name = "grey"

    def __init__(self, level: int = 5, output_format: str = "png", quality: int = 95) -> None:
        super().__init__(output_format, quality)
        self.level = level

    def cloak_images(self, images, keys):
        return [np.clip(image.astype(int) + self.level, 0, 255).astype(np.uint8) for image in images]
