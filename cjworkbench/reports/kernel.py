"""One Python kernel for the notebooks of a report run.

Starting a kernel and importing the workbench costs ~4 CPU seconds, about half of a small
notebook's run; a report runs eight. The run's notebooks therefore share one kernel: before each
notebook its user namespace is cleared (`InteractiveShell.reset`, so no variable of one page is
seen by the next), while imported modules and the database's connection stay warm. After a
notebook fails, times out or kills its kernel, the kernel's state is unknown: it is shut down and
the next notebook gets a new one.

nbclient leaves the channels of a client it made for a given kernel manager open, and ZeroMQ
keeps reconnecting them to the kernel's ports after the kernel has gone: a port the system later
hands to another server (Spark's result socket, say) then receives a ZeroMQ greeting. So every
client the manager makes is recorded and its channels closed once its notebook is done.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from jupyter_core.utils import run_sync

RESET = "get_ipython().reset(new_session=False)\nimport gc as __gc; __gc.collect(); del __gc"
START_TIMEOUT = 120


class SharedKernel:
    """A kernel started on first use in the notebooks' folder, reset between notebooks."""

    def __init__(self, kernel_name: str = "python3"):
        self.kernel_name = kernel_name
        self.km = None
        self.cwd: Path | None = None
        self.dirty = False   # a notebook has run in it since the last reset
        self.clients: list = []   # the clients nbclient made of `km`: their channels closed after use

    def ready(self, cwd: Path):
        """The kernel manager for a notebook in `cwd`, with a clean namespace."""
        cwd = Path(cwd)
        self._close_clients()   # the previous notebook's client is done
        if self.km is not None and (self.cwd != cwd or not run_sync(self.km.is_alive)()
                                    or (self.dirty and not self._reset())):
            self.stop()
        if self.km is None:   # nbclient needs the async manager: a blocking one stalls its cell timeouts
            from jupyter_client.manager import AsyncKernelManager

            self.km = AsyncKernelManager(kernel_name=self.kernel_name)
            self.km.client = self._recording(self.km.client)
            run_sync(self.km.start_kernel)(cwd=str(cwd))
            self.cwd = cwd
        self.dirty = True
        return self.km

    def _reset(self) -> bool:
        """Clear the user namespace; False when the kernel could not be cleared (never reuse it then)."""
        from jupyter_client.blocking import BlockingKernelClient

        kc = BlockingKernelClient()
        kc.load_connection_info(self.km.get_connection_info())
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=START_TIMEOUT)
            reply = kc.execute_interactive(RESET, timeout=START_TIMEOUT, store_history=False)
            return reply["content"]["status"] == "ok"
        except Exception:  # noqa: BLE001  any trouble talking to it: a fresh kernel instead
            return False
        finally:
            kc.stop_channels()

    def failed(self) -> None:
        """The last notebook failed: its kernel's state is unknown, so the next one starts anew."""
        self.stop()

    def _recording(self, make):
        def client(**kwargs):
            kc = make(**kwargs)
            self.clients.append(kc)
            return kc
        return client

    def _close_clients(self) -> None:
        for kc in self.clients:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        self.clients = []

    def stop(self) -> None:
        self._close_clients()
        if self.km is not None:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=True)
        self.km, self.cwd, self.dirty = None, None, False


@contextlib.contextmanager
def shared_kernel(kernel_name: str = "python3"):
    """A `SharedKernel`, shut down when the run ends (also on an error or Ctrl-C)."""
    kernel = SharedKernel(kernel_name)
    try:
        yield kernel
    finally:
        kernel.stop()
