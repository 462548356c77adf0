"""The kernel manager `cjw serve` gives Voilà: at most `max_kernels` live dashboard kernels, a
preheated pool that fits under that cap, and closed tabs that end their kernel at once.

Voilà starts a kernel for every page load, a bare HTTP GET included, and a dashboard kernel holds
about 300-470 MB. Without a cap some 45 requests exhaust a 24 GB machine. Beyond the cap a page
load is answered `503` with `BUSY` (the `cjw` template's busy page, which retries by itself;
`cjworkbench.serving`) instead of a new kernel; kernels still starting and preheated kernels
waiting for a viewer count, so a burst of requests cannot overshoot. The preheated pool
(`serve(pool=N)`) refills only into free places, and again when a session ends; a refill waits
while pages of viewers who took pool kernels are still loading (a crowd's browsers compete for
the same cores), unless no ready kernel is left.

Closed tabs: Voilà's page sends a shutdown beacon on `beforeunload`, but its `_xsrf` field is
empty (Voilà never sets the cookie; voila #1458), so the server refused it with 403 and the
kernel lived on until culled. The shutdown handler here accepts the beacon without the XSRF
check (it still needs an authenticated viewer, and only ends the kernel whose random id it
names). Kernels without an open tab that sent no beacon are culled by the
`MappingKernelManager.cull_*` settings `dashboards.voila_command` passes.

The `token` URL parameter (`cjw serve` with $CJW_SERVE_TOKEN) is taken out of the request URL
and query string Voilà hands each kernel, so no notebook can show or log it.

Voilà loads this class by name: `--VoilaConfiguration.multi_kernel_manager_class=
cjworkbench.kernels.CappedKernelManager --CappedKernelManager.max_kernels=8`. It imports
jupyter_server, so nothing else in the package imports this module.
"""

from __future__ import annotations

import time
import uuid

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Float, Integer

from .serving import STAGGER, without_token

BUSY = "The dashboards are busy: all {n} sessions are in use."   # the busy page adds that it retries by itself


def _accept_shutdown_beacon() -> None:
    """Let Voilà's tab-close beacon through (see the module docstring)."""
    try:
        from voila.shutdown_kernel_handler import VoilaShutdownKernelHandler
    except ImportError:   # another Voilà: its own handler stays
        return
    VoilaShutdownKernelHandler.check_xsrf_cookie = lambda self: None


_accept_shutdown_beacon()
HEARTBEAT_JOIN = 2.0   # seconds the server waits for a kernel client's heartbeat thread to end
REFILL_HOLD = 60.0   # most seconds a pool refill waits for the pages of a crowd that took pool kernels
REFILL_QUIET = 3.0   # seconds after the last such page connected to its kernel (it draws its charts then)


def _bounded_heartbeat_stop() -> None:
    """Never let one kernel client's heartbeat thread stop the server. Voilà ends each render by
    stopping its kernel client's channels on the server's only event loop; jupyter_client 8.10's
    `HBChannel.stop` joins the heartbeat thread without a timeout, and a thread caught awaiting its
    async ZMQ socket never ends: observed (py-spy, 2026-12-05) with twenty viewers arriving at once,
    the whole server then hung and nineteen pages never came. The thread is a daemon; after a
    bounded wait its socket is closed and the server goes on (ADR 0004)."""
    from jupyter_client.channels import HBChannel

    def stop(self) -> None:
        self._running = False
        self._exit.set()
        self.join(HEARTBEAT_JOIN)
        self.close()

    HBChannel.stop = stop


_bounded_heartbeat_stop()


class CappedKernelManager(AsyncMappingKernelManager):
    """An `AsyncMappingKernelManager` that refuses a new kernel while `max_kernels` are alive."""

    max_kernels = Integer(8, config=True, help="Most kernels alive at once (starting and preheated ones "
                                               "included); 0 or less: no cap.")
    stagger = Float(STAGGER, config=True, help="Seconds between two preheated kernels' starts when several are "
                                               "due at once (the pool at start, refills after a crowd).")

    def __init__(self, **kwargs):
        self._starting: set[str] = set()   # ids of kernels being started (viewers' and the pool's)
        self._pool_pending = 0    # pool refills scheduled whose kernel has not started yet
        self._next_start = 0.0    # time.monotonic() at which the last scheduled pool kernel starts
        self._loading: dict[str, float] = {}   # pool kernels viewers took whose page has not connected yet: when
        self._connected_at = float("-inf")      # time.monotonic() when the last such page connected
        self._closing = False
        super().__init__(**kwargs)

    def n_live(self) -> int:
        """Kernels running, starting, or scheduled for the pool (a kernel that just started is in
        both of the first two for a moment: counted once)."""
        return len(set(self.list_kernel_ids()) | self._starting) + self._pool_pending

    def room(self) -> int:
        """How many more kernels may start now (a large number without a cap)."""
        return 1 << 30 if self.max_kernels <= 0 else max(0, self.max_kernels - self.n_live())

    async def start_kernel(self, *args, kernel_id=None, **kwargs):
        if kernel_id is not None and kernel_id in self:   # an existing kernel: nothing new starts
            return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
        pooled = (kwargs.get("env") or {}).get("VOILA_PREHEAT") == "True"
        if pooled:   # a pool refill: its place was counted when it was scheduled (`fill_if_needed`)
            self._pool_pending = max(0, self._pool_pending - 1)
        elif not self.room():
            self.log.warning("Refused a new kernel: %d of at most %d alive (%d running, %d starting, %d scheduled "
                             "for the pool).", self.n_live(), self.max_kernels, len(self.list_kernel_ids()),
                             len(self._starting), self._pool_pending)
            raise web.HTTPError(503, reason=BUSY.format(n=self.max_kernels))
        if kwargs.get("env"):
            kwargs["env"] = without_token(kwargs["env"])
        kernel_id = str(uuid.uuid4())   # a new kernel's id, chosen here so it is counted once (`n_live`)
        self._starting.add(kernel_id)   # counted from here: the check and this run without an await between
        try:
            return await super().start_kernel(*args, kernel_id=kernel_id, **kwargs)
        finally:
            self._starting.discard(kernel_id)

    async def shutdown_kernel(self, kernel_id, *args, **kwargs):
        self._loading.pop(kernel_id, None)
        result = await super().shutdown_kernel(kernel_id, *args, **kwargs)
        self._refill_pools()   # a place is free again: a viewer's next kernel can be warming
        return result

    async def shutdown_all(self, *args, **kwargs):
        self._closing = True
        return await super().shutdown_all(*args, **kwargs)

    def notify_connect(self, kernel_id):
        """A page opened its kernel's websocket: its HTML is complete and its scripts run; it asks for
        the widgets and draws its charts next."""
        super().notify_connect(kernel_id)
        if self._loading.pop(kernel_id, None) is not None:
            self._connected_at = time.monotonic()

    async def _after_pages(self, notebook: str) -> None:
        """Hold a pool refill while pages of viewers who took pool kernels are still loading (not yet
        connected to their kernel) and `REFILL_QUIET` s after the last one connected (it draws then): a
        crowd on 2 cores takes longer than `fill_delay`, and each refill's start, ~2.5 CPU-s, would slow
        its pages (ADR 0004). Never once no ready kernel is left, nor beyond `REFILL_HOLD` s (a page
        that never connects, e.g. a curl); then refills start `stagger` s apart."""
        import asyncio

        held = time.monotonic()
        while not self._closing and time.monotonic() - held < REFILL_HOLD:
            now = time.monotonic()
            loading = any(now - t < REFILL_HOLD for t in self._loading.values())
            if not loading and now - self._connected_at >= REFILL_QUIET:
                break
            if not any(task.done() for task in self._pools.get(notebook, ())):   # a viewer may be waiting
                break
            await asyncio.sleep(0.25)
        if time.monotonic() - held > 0.25:
            wait = max(0.0, self._next_start + self.stagger - time.monotonic())
            self._next_start = time.monotonic() + wait
            await asyncio.sleep(wait)

    def _refill_pools(self) -> None:
        if self._closing or not hasattr(self, "_pools"):
            return
        for name, config in self.kernel_pools_config.items():
            if name != "default" and config.get("pool_size", 0) > len(self._pools.get(name, ())):
                self.fill_if_needed(notebook_name=name)

    def __init_subclass__(cls, **kwargs):
        """Voilà's preheating subclass (`voila_kernel_manager_factory`): its pool refills only into
        free places under the cap, each counted from when it is scheduled, one kernel every `stagger` s."""
        super().__init_subclass__(**kwargs)
        fill = cls.__dict__.get("fill_if_needed")
        if fill is None:
            return
        take, init = cls.__dict__["get_rendered_notebook"], cls.__dict__["_initialize"]

        async def get_rendered_notebook(self, notebook_name, *args, **kw):
            render_task, cache, kernel_id = await take(self, notebook_name, *args, **kw)
            self._loading[kernel_id] = time.monotonic()
            return render_task, cache, kernel_id

        async def _initialize(self, notebook_path, kernel_id=None, **kw):
            if kernel_id is None:   # a new pool kernel (a restart names its kernel)
                await self._after_pages(notebook_path)
            return await init(self, notebook_path, kernel_id, **kw)

        cls.get_rendered_notebook, cls._initialize = get_rendered_notebook, _initialize

        def fill_if_needed(self, delay=None, notebook_name=None, **kw):
            if self._closing:
                return None
            config = self.kernel_pools_config
            wanted = config.get(notebook_name, config.get("default", {})).get("pool_size", 0)
            have = len(self._pools.get(notebook_name, ()))
            allowed = min(max(0, wanted - have), self.room())
            if allowed <= 0:
                return None
            now = time.monotonic()
            try:   # one kernel per call, `stagger` s after the last one scheduled: 20 kernels started at once
                for i in range(allowed):   # are all ready only after ~60 s of both cores; staggered, the first in ~5 s
                    self._next_start = max(now + (self.fill_delay if delay is None else delay),
                                           self._next_start + self.stagger)
                    self.kernel_pools_config = {**config, notebook_name: {**config.get(notebook_name, {}),
                                                                          "pool_size": have + i + 1}}
                    fill(self, delay=self._next_start - now, notebook_name=notebook_name, **kw)
            finally:
                self.kernel_pools_config = config
            self._pool_pending += len(self._pools.get(notebook_name, ())) - have
            return None

        cls.fill_if_needed = fill_if_needed
