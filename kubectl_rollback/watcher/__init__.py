"""`watch`: record every rollout's outcome with no pipeline change, and roll a failed one back if asked.

reaction.py is the pure state machine; informer.py keeps a watched copy of the workloads and their revision objects;
loop.py reconciles each workload through reaction.py and acts; lease.py elects the one replica that acts; log.py
writes one line per decision; serve.py answers /healthz and /metrics.
"""
