"""The progress of a run while the SDK waits: an HTML bar in a notebook, rich in a terminal.

What it reveals, to whom: the run's status and the epochs recorded so far, to the user
who waits for it; nothing of the data.
"""

from __future__ import annotations

from lab.models import (
    ExperimentPublic,
)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _epoch_state(info: ExperimentPublic) -> tuple[int, str]:
    epochs = [p for p in info.progress if isinstance(p.get("loss"), int | float)]
    loss = f"loss {epochs[-1]['loss']:.4f}" if epochs else ""
    return len(epochs), loss


class _NotebookProgress:
    """An HTML progress bar in one notebook output, updated in place (no widgets needed)."""

    def __init__(self, total: int, name: str, unit: str = "epochs") -> None:
        from IPython.display import HTML, display

        self.total, self.name, self.unit, self._html = total, name, unit, HTML
        self.handle = display(HTML(self._render(0, "", "waiting")), display_id=True)

    def _render(self, done: int, loss: str, status: str) -> str:
        import html

        bar = (
            f'<progress value="{done}" max="{self.total}" style="width: 14em"></progress> '
            if self.total
            else ""
        )
        count = f"{done}/{self.total} {self.unit}" if self.total else f"{done} {self.unit}"
        return (
            f"<div>{bar}<b>{html.escape(self.name)}</b> [{html.escape(status)}] {count}"
            f"{' · ' + html.escape(loss) if loss else ''}</div>"
        )

    def update(self, info: ExperimentPublic) -> None:
        done, loss = _epoch_state(info)
        if self.handle is not None:
            self.handle.update(self._html(self._render(done, loss, info.status.value)))

    def close(self) -> None:
        pass


class _ProgressBar:
    """Epoch progress with rich in a terminal."""

    def __init__(self, total: int, name: str, unit: str = "epochs") -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} " + unit + " {task.fields[loss]}"),
            transient=False,
        )
        self.task = self.progress.add_task(name, total=total or None, loss="")
        self.progress.start()

    def update(self, info: ExperimentPublic) -> None:
        done, loss = _epoch_state(info)
        self.progress.update(
            self.task,
            completed=done,
            loss=loss or info.status.value,
            description=f"{info.name} [{info.status.value}]",
        )

    def close(self) -> None:
        self.progress.stop()


def progress_display(
    total: int, name: str, unit: str = "epochs"
) -> _ProgressBar | _NotebookProgress:
    """An HTML bar in a notebook, a rich bar in a terminal."""
    return (
        _NotebookProgress(total, name, unit) if _in_notebook() else _ProgressBar(total, name, unit)
    )


__all__ = [
    "progress_display",
]
