"""Deployment targets: one sibling folder per chip, everything about that chip inside it.

A target folder (``neurocosim/targets/<chip>/``) holds, for one chip that runs a
network natively (as opposed to the crossbar chips the ``hwsim`` engine models):

* ``quantize.py`` — float IR network → the chip's integer network (the chip's own
  parameter format, with a report of every approximation and a warning for each);
* ``network.py`` — the integer network's data types, shared by the modules below;
* ``simulator.py`` — a fast bit-exact simulator of the chip's integer semantics
  (Numba kernels through :mod:`neurocosim.hwsim.jit`, plus a slow NumPy statement of the
  same semantics that the tests compare against);
* the chip's own toolchain and file formats (for Loihi 2: ``lava.py``, the Lava process
  graph, and ``netx.py``, lava-dl's HDF5 network description); a vendor SDK is imported
  only inside the functions that need it and fails with one clear error if it is missing;
* ``<chip>.yaml`` — the chip card preset (``load_chip("<chip>")`` finds presets in every
  target folder as well as in ``neurocosim/devices/presets/``);
* ``__init__.py`` — the target's public API, the only names other packages import.

Adding a target (SpiNNaker 2, Xylo, ...): create ``neurocosim/targets/<chip>/`` with the
files above that apply (a chip without a vendor simulator has no toolchain module), add
``"neurocosim.targets.<chip>" = ["*.yaml"]`` to the package data in ``pyproject.toml``, and
put its tests in ``tests/targets/test_<chip>*.py``. A target may import anything below ``targets`` in
the layer order (errors, ir, devices, frontends, mapping, hwsim, calibration, energy);
nothing below may import a target, and targets do not import each other.
"""
