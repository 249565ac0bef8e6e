"""Reading the fields of an untrusted HDF5 record (model files, checkpoints), checked first.

A model file comes from outside, so nothing in it is trusted. Every object must be a
hard-linked group or dataset (an external link would read another file, a soft link
another object); a dataset must be plain: not virtual, not external (an HDF5 file can
point at the bytes of any other file on the disk), unfiltered, with all its bytes
stored in the file, of a real numeric dtype and of the shape the other fields imply.
All of this is checked from metadata, before a byte of data is read or a buffer
allocated: a 14 kB file that declares a 50 GB dataset is refused at once
(tests/io/test_hostile_files.py). Any failure is a one-line ``ValueError`` naming the
field. Nothing is unpickled: h5py never unpickles, and object, string and compound
dtypes are refused where numbers are expected.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

_LINK_KINDS = {h5py.SoftLink: "a soft link", h5py.ExternalLink: "an external link"}


class FieldReader:
    """Checked access to the fields of one open HDF5 file; errors name ``what`` and ``path``.

    Parameters
    ----------
    f : h5py.File
    path : str
        The file's path, for messages.
    what : str
        What the file is, for messages ("model file", "checkpoint").
    """

    def __init__(self, f: h5py.File, path: str, what: str):
        self.f, self.path, self.what = f, path, what
        self.file_bytes = os.path.getsize(path) if os.path.exists(path) else None

    def bad(self, where: str, problem: str) -> ValueError:
        return ValueError(f"{self.what} {self.path}: field '{where}' {problem}")

    def member(self, parent: h5py.Group, name: str, where: str, kind: type):
        """A hard-linked member of the given kind (h5py.Group or h5py.Dataset); nothing read."""
        link = parent.get(name, getlink=True)
        if link is None:
            raise self.bad(where, "is missing")
        if not isinstance(link, h5py.HardLink):
            raise self.bad(
                where,
                f"is {_LINK_KINDS.get(type(link), 'a link of an unknown kind')}; "
                f"a {self.what} may hold only plain groups and datasets",
            )
        obj = parent[name]
        if not isinstance(obj, kind):
            raise self.bad(where, f"should be a {kind.__name__.lower()}")
        return obj

    def group(self, parent: h5py.Group, name: str, where: str | None = None) -> h5py.Group:
        return self.member(parent, name, where or name, h5py.Group)

    def dataset(self, group: h5py.Group, name: str, where: str, kinds="f") -> h5py.Dataset:
        """A plain numeric dataset whose bytes all lie in this file (metadata only)."""
        ds = self.member(group, name, where, h5py.Dataset)
        if ds.is_virtual:
            raise self.bad(where, f"is a virtual dataset; a {self.what} holds only plain ones")
        plist = ds.id.get_create_plist()
        if plist.get_external_count() > 0:
            raise self.bad(where, "is external (its data lies in another file); nothing was read")
        if plist.get_nfilters() > 0:
            raise self.bad(where, "is compressed or filtered; streamgmm writes plain datasets")
        dtype = ds.dtype
        if dtype.kind not in kinds or dtype.names or dtype.itemsize > 8:
            raise self.bad(where, f"has unexpected dtype {dtype}; expected real numbers")
        if dtype.kind == "f" and dtype.itemsize not in (4, 8):
            raise self.bad(where, f"has dtype {dtype}; expected float32 or float64")
        return ds

    def shape(self, ds: h5py.Dataset, where: str, expected) -> None:
        if ds.shape != tuple(expected):
            raise self.bad(where, f"has shape {ds.shape}, expected {tuple(expected)}")

    def array(self, group, name, where, *, kinds="f", shape=None, ndim=None) -> np.ndarray:
        """The values of a dataset, read only once its shape, dtype and storage are checked.

        ``shape`` (a tuple) or ``ndim`` says what the other fields imply. The declared bytes
        must all be stored in the file (and fit in it), so what is allocated is bounded by
        the size of the file itself.
        """
        ds = self.dataset(group, name, where, kinds)
        if shape is not None:
            self.shape(ds, where, shape)
        elif ndim is not None and ds.ndim != ndim:
            raise self.bad(where, f"has shape {ds.shape}, expected {ndim} dimension(s)")
        self._check_stored(ds, where)
        data = np.empty(ds.shape, dtype=ds.dtype.newbyteorder("="))
        if data.size:
            ds.read_direct(data)
        return data

    def _check_stored(self, ds: h5py.Dataset, where: str) -> None:
        declared = int(ds.size) * ds.dtype.itemsize
        if declared == 0:
            return
        if self.file_bytes is not None and declared > self.file_bytes:
            raise self.bad(
                where,
                f"declares {ds.shape} values ({declared:,} bytes), more than the whole file "
                f"({self.file_bytes:,} bytes); refused before reading",
            )
        if ds.id.get_storage_size() < declared:
            raise self.bad(
                where,
                f"declares {ds.shape} values but its data were never written "
                f"({ds.id.get_storage_size():,} of {declared:,} bytes stored); refused",
            )

    def scalar(self, attrs, name: str, kind: type, where: str):
        """A scalar attribute of the given Python type (bool, int, float, str), checked."""
        if name not in attrs:
            raise self.bad(where, "is missing")
        value = attrs[name]
        if kind is str:
            if not isinstance(value, str):
                raise self.bad(where, "should be text")
            return value
        accepted = {bool: (np.bool_,), int: (np.integer,), float: (np.floating, np.integer)}[kind]
        if not isinstance(value, accepted) or np.ndim(value) != 0:
            shape = f" of shape {np.shape(value)}" if np.ndim(value) else ""
            got = f"{type(value).__name__}{shape}"
            raise self.bad(where, f"should be a single {kind.__name__}, got {got}")
        return kind(value)
