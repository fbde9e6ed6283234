"""The registered names of the tasks (shared by the tasks and the code that defers them)."""

NAMESPACE = "digest"


def task_name(name: str) -> str:
    """The name a job row carries: "digest:send_shard"."""
    return f"{NAMESPACE}:{name}"
