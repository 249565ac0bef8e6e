"""Files: HDF5 reading (``hdf5``, ``handles``) and writing, the one atomic writer
(``atomic``), model files (``modelfile``), checkpoints (``checkpoint``) and the checked
reading of their fields (``fields``). The only layer that imports h5py.

Modules are imported by name (``from .._io.hdf5 import read_hdf5``): importing this
package imports none of them.
"""
