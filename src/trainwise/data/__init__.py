"""The data layer: built-in data sets and user files (CSV/TSV, .npz, IDX) as numpy arrays.

Nothing here imports torch, scikit-learn or mlxtend, so listing data sets starts fast; the engine wraps the
arrays in tensors.
"""

from trainwise.data.catalog import BUILTINS, Builtin, RawDataset, get_builtin
from trainwise.data.idx import read_idx
from trainwise.data.load import ArraySplits, load_arrays
from trainwise.data.splits import split_indices
from trainwise.data.tabular import Table, read_csv, read_npz, read_table

__all__ = [
    "BUILTINS",
    "ArraySplits",
    "Builtin",
    "RawDataset",
    "Table",
    "get_builtin",
    "load_arrays",
    "read_csv",
    "read_idx",
    "read_npz",
    "read_table",
    "split_indices",
]
