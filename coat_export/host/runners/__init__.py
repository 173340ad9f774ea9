"""The MindSpore backends of the runner protocol (`coat_export.edge.runners.base.Runner`), one
module each: the source network (`network_runner`) and MINDIR files (`mindir_runner`). Export
verification, `check`, `validate` and `bench` so treat every model alike; MindSpore is imported
when a runner is made.
"""
