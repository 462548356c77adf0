"""The kernel manager `cjw serve` gives Voilà: at most `max_kernels` live dashboard kernels.

Voilà starts a kernel for every page load, a bare HTTP GET included, and a dashboard kernel holds
about 400-470 MB. Without a cap some 45 requests exhaust a 24 GB machine. Beyond the cap a page
load is answered `503` with `BUSY` ("... try again in a minute") instead of a new kernel; kernels
still starting count, so a burst of requests cannot overshoot. Idle kernels without an open tab
are culled by the `MappingKernelManager.cull_*` settings `dashboards.voila_command` passes, which
frees their places.

The `token` URL parameter (`cjw serve` with $CJW_SERVE_TOKEN) is taken out of the request URL
and query string Voilà hands each kernel, so no notebook can show or log it.

Voilà loads this class by name: `--VoilaConfiguration.multi_kernel_manager_class=
cjworkbench.kernels.CappedKernelManager --CappedKernelManager.max_kernels=8`. It imports
jupyter_server, so nothing else in the package imports this module.
"""

from __future__ import annotations

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer

from .dashboards import without_token

BUSY = "The dashboards are busy: all {n} sessions are in use. Please try again in a minute."


class CappedKernelManager(AsyncMappingKernelManager):
    """An `AsyncMappingKernelManager` that refuses a new kernel while `max_kernels` are alive."""

    max_kernels = Integer(8, config=True, help="Most kernels alive at once (starting ones included); "
                                               "0 or less: no cap.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._starting = 0

    def n_live(self) -> int:
        """Kernels running plus kernels still starting."""
        return len(self.list_kernel_ids()) + self._starting

    async def start_kernel(self, *args, kernel_id=None, **kwargs):
        if kernel_id is not None and kernel_id in self:   # an existing kernel: nothing new starts
            return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
        live = self.n_live()
        if 0 < self.max_kernels <= live:
            self.log.warning("Refused a new kernel: %d of at most %d alive.", live, self.max_kernels)
            raise web.HTTPError(503, reason=BUSY.format(n=self.max_kernels))
        if kwargs.get("env"):
            kwargs["env"] = without_token(kwargs["env"])
        self._starting += 1   # counted from here: the check and this increment run without an await between
        try:
            return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
        finally:
            self._starting -= 1
