"""The running operator: one subpackage per domain (DESIGN §2).

Inside each domain: logic modules (no thespian, no sockets), adapters (``*_adapter.py``: the only
code touching sockets, gRPC, the Kubernetes API or the disk) and thin actors (``*_actor.py``: the
only modules that import thespian, with ``actors/runtime/thespian_*.py``).
"""
