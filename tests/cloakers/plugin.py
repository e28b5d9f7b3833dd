"""Third-party cloakers, as a plugin package would ship them (registered in the entry-point tests)."""

import numpy as np

from audit.cloakers import ImageCloaker


class GreyCloak(ImageCloaker):
    """Adds a constant grey level: enough to check that plugins are found and built."""

    name = "grey"

    def __init__(self, level: int = 5, output_format: str = "png", quality: int = 95) -> None:
        """level: the grey levels added to every pixel"""
        super().__init__(output_format, quality)
        self.level = level

    def cloak_images(self, images, keys):
        return [np.clip(image.astype(int) + self.level, 0, 255).astype(np.uint8) for image in images]


class DoublingCloak(GreyCloak):
    """Stores `level` doubled: params() no longer gives back what it was given (check_plugin must say so)."""

    name = "doubling"

    def __init__(self, level: int = 5, output_format: str = "png", quality: int = 95) -> None:
        super().__init__(2 * level, output_format, quality)
