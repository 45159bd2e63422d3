"""Reading NVIDIA network pickles without importing or running their code.

A stylegan2-ada(-pytorch) ``.pkl`` holds the network objects themselves, whose classes live in NVIDIA's code
(``torch_utils``, ``dnnlib``, ``training``); unpickling them normally would execute that code.
:class:`RestrictedUnpickler` turns every object of such a class into an inert :class:`Inert` record of what the
pickle gave it, rebuilds tensors only through torch's weights-only loader, and refuses any other standard-library, torch or NumPy name
(``os.system``, ``builtins.eval``, ``subprocess.Popen`` ... raise :class:`~blurkit.errors.BlurkitError`).
:func:`module_tensors` then reads a pickled module tree's parameters and buffers by dotted name;
:mod:`blurkit.generator.checkpoints` maps them onto blurkit's generator.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from blurkit.errors import BlurkitError

PERSISTENT = "torch_utils.persistence._reconstruct_persistent_obj"  # how NVIDIA pickles its network objects


def check_exists(path: Path, manifest_entry: str | None) -> None:
    """A one-line error naming the manifest entry when a checkpoint file is absent."""
    if not path.is_file():
        entry = f" (manifest entry '{manifest_entry}': fetch it as that entry says)" if manifest_entry else ""
        raise BlurkitError(f"generator checkpoint '{path}' does not exist{entry}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__



class Inert:
    """An object of a class (or the result of a function) that a pickle names but blurkit never imports.

    ``pickle_global`` is the dotted name; ``args`` / ``kwargs`` what the pickle called it with; ``state`` what it
    passed to ``__setstate__``; ``items`` / ``elements`` any dict or list contents.
    """

    pickle_global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        obj = super().__new__(cls)
        obj.__dict__.update(args=args, kwargs=kwargs, state=None, items={}, elements=[])
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # everything was recorded by __new__
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items[key] = value

    def append(self, value: Any) -> None:
        self.elements.append(value)

    def extend(self, values: Any) -> None:
        self.elements.extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.pickle_global}>"


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> torch.Tensor:
    if not isinstance(storage, torch.storage.TypedStorage) or not isinstance(offset, int):
        raise pickle.UnpicklingError("a tensor in the pickle is not built from a storage")
    return torch._utils._rebuild_tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: Any, *_: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("a parameter in the pickle holds no tensor")
    return data


def _load_storage(data: bytes) -> Any:
    storage = torch.load(io.BytesIO(data), weights_only=True)
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError("a storage in the pickle is not a tensor storage")
    return storage


def _np_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("a NumPy array in the pickle has another array class")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("a NumPy scalar in the pickle is not plain numeric data")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:  # how protocol 2 writes bytes
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("_codecs.encode is allowed only to turn latin-1 text into bytes")
    return text.encode("latin1")


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:  # protocol 0/1 object pickles
    if not (isinstance(cls, type) and issubclass(cls, Inert)):
        raise pickle.UnpicklingError("copyreg._reconstructor of a class blurkit does not treat as inert")
    return cls(state)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("builtins", "complex"): complex, ("builtins", "bytearray"): bytearray, ("builtins", "object"): object,
    ("copyreg", "_reconstructor"): _reconstructor, ("_codecs", "encode"): _latin1,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor, ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch", "Size"): torch.Size, ("torch", "device"): torch.device,
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
    **{(m, "_reconstruct"): _np_reconstruct for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _np_scalar for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
}
_GUARDED_ROOTS = set(sys.stdlib_module_names) | {"torch", "numpy", "__builtin__"}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that imports nothing: allowed data constructors (tensors via torch's weights-only loader,
    containers, NumPy arrays of numbers, torch dtypes), an :class:`Inert` class for every name from project code,
    and a :class:`~blurkit.errors.BlurkitError` for any other standard-library, torch or NumPy name."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self.path = path
        self._inert: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and isinstance(getattr(torch, name, None), (torch.dtype, torch.memory_format,
                                                                          torch.layout)):
            return getattr(torch, name)
        if module.split(".")[0] in _GUARDED_ROOTS:
            raise BlurkitError(f"refusing to load '{self.path}': the pickle calls {module}.{name}, which a network "
                               f"pickle has no use for (it could run code)")
        key = f"{module}.{name}"
        if key not in self._inert:
            self._inert[key] = type(name, (Inert,), {"pickle_global": key})
        return self._inert[key]

    def persistent_load(self, pid: Any) -> Any:
        raise BlurkitError(f"refusing to load '{self.path}': the pickle refers to external objects")


def read_network_pickle(path: str | os.PathLike, *, manifest_entry: str | None = None) -> Any:
    """The object tree of a network pickle, read by :class:`RestrictedUnpickler` (no code imported or run)."""
    path = Path(path)
    check_exists(path, manifest_entry)
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, path).load()
    except BlurkitError:
        raise
    except Exception as exc:  # a truncated or foreign file raises many kinds
        raise BlurkitError(f"cannot read network pickle '{path}': corrupt or not a pickle ({first_line(exc)})") \
            from None


def _state_of(obj: Any) -> dict | None:
    """The attribute dict of a pickled ``torch.nn.Module``: NVIDIA's persistence meta, a BUILD state or a dict."""
    if isinstance(obj, Inert):
        if obj.pickle_global == PERSISTENT and obj.args and isinstance(obj.args[0], dict):
            state = obj.args[0].get("state")
        else:
            state = obj.state[0] if isinstance(obj.state, tuple) and obj.state else obj.state
        return state if isinstance(state, dict) else None
    return obj if isinstance(obj, dict) and "_parameters" in obj else None


def module_tensors(obj: Any, prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, dict]]:
    """Parameters and buffers of a pickled module tree by dotted name, and each module's attribute dict."""
    tensors: dict[str, torch.Tensor] = {}
    attrs: dict[str, dict] = {}
    state = _state_of(obj)
    if state is None:
        return tensors, attrs
    attrs[prefix.rstrip(".")] = state
    for group in ("_parameters", "_buffers"):
        for k, v in (state.get(group) or {}).items():
            if isinstance(v, torch.Tensor):
                tensors[prefix + k] = v
    for k, child in (state.get("_modules") or {}).items():
        sub_t, sub_a = module_tensors(child, f"{prefix}{k}.")
        tensors.update(sub_t)
        attrs.update(sub_a)
    return tensors, attrs


__all__ = ["Inert", "PERSISTENT", "RestrictedUnpickler", "check_exists", "first_line", "module_tensors",
           "read_network_pickle"]
