"""Class names per dataset, torch-free so that figures and reports can label axes without importing torch."""

from __future__ import annotations

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "fmnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
