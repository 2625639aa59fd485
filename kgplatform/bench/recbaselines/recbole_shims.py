"""Minimal shims that let RecBole 1.2.1 run on numpy 2, scipy 1.17, pandas 3 and torch 2.13 without DGL.

Nothing in site-packages is edited; each shim is applied at runtime, only where RecBole needs it:

- numpy 2 dropped the numpy-1 aliases RecBole uses (``np.float``, ``np.int``, ... at runtime, and ``np.float_``,
  ``np.complex_``, ``np.unicode_`` in Config.compatibility_settings, which would otherwise raise). ``numpy_aliases``
  adds the missing ones (the same objects numpy 1 had); they are process-wide but only add names.
- scipy 1.15+ removed ``dok_matrix._update`` (LightGCN and KGIN build their adjacency with it): ``dok_update``
  adds it back as an update of the matrix's key dict (what it was).
- ``recbole_env``: Config parses ``sys.argv`` as RecBole options and sets ``CUDA_VISIBLE_DEVICES``; pandas 3 warns
  (ChainedAssignmentError) on RecBole's ``feat[field].fillna(..., inplace=True)``, a no-op that only matters for NaN
  ids, which our atomic files never have. The context hides argv, restores the environment variable and silences
  those warnings and RecBole's other known deprecation warnings (torch.sparse.FloatTensor, pandas inplace=,
  numpy __array_wrap__), only while RecBole code runs.
- KGIN's aggregator imports ``torch_scatter.scatter_mean`` (not installed; no wheel for this torch). While RecBole
  code runs, ``recbole_env`` puts a one-function stand-in module in ``sys.modules`` (index_add_ sums over counts,
  0 for empty rows, as torch_scatter does) and removes it afterwards, so that nothing else (PyG checks for
  torch_scatter at import) ever sees it. Never used when the real package imports.
- KGAT builds a DGL graph only to row-normalise each relation's adjacency (init_graph). ``KGATNoDGL`` computes the
  same matrix with scipy (rows = heads, as DGL's ``adjacency_matrix(transpose=False)``; duplicate edges counted), and
  ``kgat_dataset_view`` answers the model's ``ckg_graph(form="dgl")`` call with None.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
import warnings

import numpy as np

_NUMPY1_ALIASES = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_, "bool": np.bool_,
                   "int": np.int_, "float": np.float64, "complex": np.complex128, "object": np.object_,
                   "str": np.str_, "long": np.int_, "unicode": np.str_}


def numpy_aliases() -> None:
    for name, value in _NUMPY1_ALIASES.items():
        if name not in vars(np):  # (getattr would warn: numpy 2 reserves some of these names)
            setattr(np, name, value)


def dok_update() -> None:
    import scipy.sparse as sp

    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = lambda self, data: self._dict.update(data)


def apply() -> None:
    numpy_aliases()
    dok_update()


def _scatter_mean(src, index, dim=0, out=None, dim_size=None):
    import torch

    if dim != 0 or out is not None:
        raise NotImplementedError("the torch_scatter stand-in only does scatter_mean(src, index, dim=0, dim_size=n)")
    size = int(index.max()) + 1 if dim_size is None else dim_size
    total = torch.zeros((size, *src.shape[1:]), dtype=src.dtype, device=src.device).index_add_(0, index, src)
    count = torch.zeros(size, dtype=src.dtype, device=src.device).index_add_(
        0, index, torch.ones(len(index), dtype=src.dtype, device=src.device))
    return total / count.clamp(min=1).view(-1, *([1] * (src.dim() - 1)))


def _torch_scatter_missing() -> bool:
    import importlib.util

    return "torch_scatter" not in sys.modules and importlib.util.find_spec("torch_scatter") is None


@contextlib.contextmanager
def recbole_env():
    argv, cuda = sys.argv, os.environ.get("CUDA_VISIBLE_DEVICES")
    sys.argv = argv[:1]
    stub = _torch_scatter_missing()
    if stub:
        module = types.ModuleType("torch_scatter")
        module.scatter_mean = _scatter_mean
        module.__doc__ = "kgplatform's scoped stand-in for RecBole's KGIN (recbole_shims.py)"
        sys.modules["torch_scatter"] = module
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*chained assignment.*")
            warnings.filterwarnings("ignore", message=".*is deprecated.*Please use torch.sparse_coo_tensor.*")
            warnings.filterwarnings("ignore", message=".*non-writable tensors.*")
            warnings.filterwarnings("ignore", message="divide by zero encountered in power")
            warnings.filterwarnings("ignore", message=".*inplace keyword.*is deprecated.*")  # pandas 3.1 (PDEP-8)
            warnings.filterwarnings("ignore", message=".*__array_wrap__ must accept context.*")
            yield
    finally:
        if stub:
            sys.modules.pop("torch_scatter", None)
        sys.argv = argv
        if cuda is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = cuda


def kgat_dataset_view(dataset):
    """The dataset, except that ``ckg_graph(form="dgl")`` returns None (KGATNoDGL never reads it)."""
    original = dataset.ckg_graph

    def ckg_graph(form="coo", value_field=None):
        return None if form == "dgl" else original(form=form, value_field=value_field)

    dataset.ckg_graph = ckg_graph
    return dataset


def kgat_class():
    import scipy.sparse as sp
    import torch
    from recbole.model.knowledge_aware_recommender import KGAT

    class KGATNoDGL(KGAT):
        def init_graph(self):
            """Sum over relations r of D_r^-1 A_r (A_r[h, t] = number of (h, r, t) edges), as a sparse tensor."""
            heads, tails, rels = (t.cpu().numpy() for t in (self.all_hs, self.all_ts, self.all_rs))
            size = self.matrix_size[0]
            total = sp.csr_matrix((size, size), dtype=np.float64)
            for rel in range(1, self.n_relations):
                keep = rels == rel
                adj = sp.coo_matrix((np.ones(int(keep.sum())), (heads[keep], tails[keep])), shape=(size, size)).tocsr()
                rowsum = np.asarray(adj.sum(1)).flatten()
                inv = np.divide(1.0, rowsum, out=np.zeros_like(rowsum), where=rowsum > 0)
                total = total + sp.diags(inv) @ adj
            total = total.tocoo()
            indices = torch.from_numpy(np.vstack([total.row, total.col]).astype(np.int64))
            return torch.sparse_coo_tensor(indices, torch.from_numpy(total.data).float(), self.matrix_size,
                                           check_invariants=True).coalesce().to(self.device)

    KGATNoDGL.__name__ = "KGAT"
    return KGATNoDGL
