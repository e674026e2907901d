"""The clinical model: streams, compiled therapies, draws and the SimPy process of each patient."""
