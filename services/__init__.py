"""Services between the core and the shell: intake, watch, alerts, letters, reports, views.

Each reads and writes through ``db`` and decides through ``pathway``; none imports a task, a
flow or the command line (tests/test_layers.py).
"""
