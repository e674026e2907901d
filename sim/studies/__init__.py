"""The studies: run, sweep, trial, verify and validate, each as design, evaluate, analyse and report."""
