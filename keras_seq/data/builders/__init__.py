"""The embedded datasets: offline TFDS builders, registered on import.

After `import keras_seq.data` (which imports this package),
`tfds.load("date_normalization", data_dir=...)` and the others work with no
network: each builder draws its examples from a seed.
"""

from keras_seq.data.builders.adding_problem import AddingProblem
from keras_seq.data.builders.arithmetic import Arithmetic
from keras_seq.data.builders.copy_memory import CopyMemory
from keras_seq.data.builders.date_normalization import DateNormalization
from keras_seq.data.builders.sequence_reverse import SequenceReverse

# TFDS name -> builder class.
EMBEDDED = {
    cls.name: cls
    for cls in (
        AddingProblem,
        CopyMemory,
        DateNormalization,
        Arithmetic,
        SequenceReverse,
    )
}

__all__ = [
    "EMBEDDED",
    "AddingProblem",
    "Arithmetic",
    "CopyMemory",
    "DateNormalization",
    "SequenceReverse",
]
