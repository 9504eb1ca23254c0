"""The engine: Forward-Forward and backprop in pure NumPy, importing nothing from the web layer."""

from app.engine.datasets import DATASET_NAMES, Dataset, make_dataset, race_data
from app.engine.race import NetMetrics, PointInference, Race, RaceSettings, RaceSnapshot

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "make_dataset",
    "race_data",
    "NetMetrics",
    "PointInference",
    "Race",
    "RaceSettings",
    "RaceSnapshot",
]
