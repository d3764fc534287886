"""A GPU is used or the owner is told (#28, goal 6): the detection (a GPU present, usable or
not, and why not), the painter's ERROR at start, DEVICE=cuda's refusal saying the same why, and
the mark in the engines table reaching /admin (over the fake Bot API) and the bot's /healthz.
No GPU is needed: /proc, /dev and nvidia-smi are stand-ins, torch's answer is a parameter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time

import pytest
import torch

from bot.handlers import register_all
from engine.paint import gpu as gpu_module
from engine.paint import model
from engine.paint.gpu import GpuCheck, check_gpu, driver_from_proc, driver_from_smi
from engine.painter import worker as worker_module
from jobs import EngineInfo, JobStore
from jobs.liveness import this_host
from tests.bot_harness import ADMIN_ID, http_get
from tests.fake_bot_api import make_user
from tests.style_support import make_settings, style_bot
from tests.test_worker_unit import ScriptedStylizer, settings
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)

# What the two kinds of NVIDIA kernel module write there (the proprietary and the open one).
PROC_535 = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)
PROC_580 = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  "
    "(dvs-builder@U16-I3-B03-4-3)  Sun Jul 27 06:54:38 UTC 2025\n"
)
NO_SMI = ("/nonexistent/nvidia-smi",)
TOO_OLD = "NVIDIA driver 535.104.05 found but this torch (CUDA 13.0) needs 580+"
ADMIN = make_user(ADMIN_ID, "Ada", "ada_admin")


def smi_saying(version: str) -> tuple[str, ...]:
    return (sys.executable, "-c", f"print({version!r})")


@pytest.fixture
def host(tmp_path):
    """A stand-in for /proc/driver/nvidia/version and /dev/nvidia0 (neither there at first)."""
    (tmp_path / "proc").mkdir()
    (tmp_path / "dev").mkdir()
    return tmp_path


def look(host, *, proc: str | None = None, node: bool = False, smi=NO_SMI, usable=False,
         cuda: str | None = "13.0", said: str = "") -> GpuCheck:  # fmt: skip
    if proc is not None:
        (host / "proc" / "version").write_text(proc)
    if node:
        (host / "dev" / "nvidia0").touch()
    return check_gpu(
        proc_version=host / "proc" / "version",
        device_node=host / "dev" / "nvidia0",
        smi=smi,
        cuda_available=lambda: (usable, said),
        torch_cuda=cuda,
        torch_version="2.14.1+cu130" if cuda else "2.14.1+cpu",
    )


# ---------------------------------------------------------------------------- detection
def test_no_gpu_at_all_is_nothing_to_say(host):
    found = look(host)
    assert (found.present, found.usable, found.unused, found.driver) == (False, False, False, None)


def test_a_gpu_torch_can_use_is_present_and_usable(host):
    found = look(host, proc=PROC_580, node=True, usable=True)
    assert (found.present, found.usable, found.unused) == (True, True, False)
    assert found.driver == "580.65.06"


def test_a_driver_older_than_the_cuda_build_is_named_with_what_it_needs(host):
    said = "CUDA initialization: The NVIDIA driver on your system is too old (found version 12020)"
    found = look(host, proc=PROC_535, node=True, said=said)
    assert (found.present, found.usable, found.unused) == (True, False, True)
    assert found.driver == "535.104.05"
    assert found.why().startswith(TOO_OLD)


def test_the_same_driver_is_enough_for_a_cuda_12_build(host):
    """cu126 wheels run on 525.60.13 and newer: 535 is not the reason there."""
    found = look(host, proc=PROC_535, node=True, cuda="12.6", said="something else")
    assert found.unused and "needs" not in found.why()
    assert found.why() == (
        "NVIDIA driver 535.104.05 found but torch (CUDA 12.6) cannot use the GPU: something else"
    )


def test_nvidia_smi_alone_finds_the_gpu_and_its_driver(host):
    found = look(host, smi=smi_saying("535.54.03"))
    assert found.present and found.unused and found.driver == "535.54.03"
    assert found.why().startswith("NVIDIA driver 535.54.03 found but this torch (CUDA 13.0)")


def test_a_device_node_alone_is_a_gpu(host):
    found = look(host, node=True)
    assert found.present and found.unused and found.driver is None
    assert found.why().startswith("an NVIDIA driver found but torch (CUDA 13.0) cannot use")


def test_a_driver_without_a_device_is_a_container_started_without_gpus(host):
    found = look(host, proc=PROC_580)
    assert found.unused
    assert "no GPU device (/dev/nvidia0) is visible here" in found.why()
    assert "--gpus all" in found.why()


def test_a_cpu_only_torch_beside_a_gpu_says_so(host):
    found = look(host, proc=PROC_580, node=True, cuda=None)
    assert found.unused
    assert found.why() == (
        "NVIDIA driver 580.65.06 found but this torch (2.14.1+cpu) is built without CUDA"
    )


def test_nvidia_smi_that_hangs_is_given_up_on():
    started = time.monotonic()
    assert driver_from_smi((sys.executable, "-c", "import time; time.sleep(30)"), 0.5) is None
    assert time.monotonic() - started < 10
    assert driver_from_smi((sys.executable, "-c", "raise SystemExit(9)")) is None


def test_an_unreadable_proc_file_reads_as_no_driver(host):
    assert driver_from_proc(host / "missing") is None
    (host / "odd").write_text("something else\n")
    assert driver_from_proc(host / "odd") == ""  # a driver, version unknown


# ---------------------------------------------------------------------------- the painter
def unused_535(**_: object) -> GpuCheck:
    return GpuCheck(True, False, "535.104.05", True, "13.0", "2.14.1+cu130")


def test_device_auto_beside_an_unusable_gpu_logs_an_error_at_start(caplog):
    caplog.set_level(logging.INFO, logger="engine.worker")
    why = worker_module.unused_gpu("auto", unused_535)
    assert why is not None and why.startswith(TOO_OLD)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith(f"GPU present but unused: {TOO_OLD}")
    assert record.getMessage().endswith("; painting on the CPU (DEVICE=auto)")


def test_device_cpu_is_a_choice_and_a_usable_gpu_is_nothing_to_say(caplog):
    def never() -> GpuCheck:
        raise AssertionError("DEVICE=cpu looks for no GPU")

    assert worker_module.unused_gpu("cpu", never) is None
    usable = GpuCheck(True, True, "580.65.06", True, "13.0", "2.14.1+cu130")
    assert worker_module.unused_gpu("auto", lambda: usable) is None
    assert worker_module.unused_gpu("cuda:1", lambda: usable) is None
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_device_cuda_refuses_to_start_saying_why(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(model, "check_gpu", unused_535)
    with pytest.raises(RuntimeError, match="DEVICE=cuda but CUDA is not available: ") as raised:
        model.resolve_device("cuda")
    assert TOO_OLD in str(raised.value)
    monkeypatch.setattr(model, "check_gpu", lambda: GpuCheck(False, False))
    with pytest.raises(RuntimeError, match="no NVIDIA GPU or driver was found"):
        model.resolve_device("cuda:0")
    assert model.resolve_device("auto") == torch.device("cpu")


async def test_the_painter_registers_why_its_gpu_is_unused(tmp_path, monkeypatch):
    """The whole start of a worker (a stand-in for VGG19): the engines table holds the why."""
    monkeypatch.setattr(worker_module, "check_gpu", unused_535)
    monkeypatch.setattr(worker_module, "Stylizer", lambda **_: ScriptedStylizer(device="cpu"))
    assert gpu_module.check_gpu is not unused_535  # the real detection is left alone
    config = settings(tmp_path, DEVICE="auto", CPU_JOB_SECONDS=0, CPU_CLIP_SECONDS=0)
    async with await JobStore.open(config.data_dir) as store:
        worker = worker_module.Worker(config, store)
        running = asyncio.create_task(worker.run())
        try:
            registered = await eventually(
                lambda: worker.runner is not None and store.engines(), 20, "the painter ready"
            )
            [engine] = registered
            assert engine.gpu_unused is not None and engine.gpu_unused.startswith(TOO_OLD)
            assert engine.device.startswith("cpu")
        finally:
            worker.request_stop("test")
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(running, 20)


# ---------------------------------------------------------------------------- the owner is told
def painter(name: str, why: str | None) -> EngineInfo:
    return EngineInfo(f"{name}-1-ab", os.getpid(), this_host(), "cpu, fp32", None, name=name,
                      gpu_unused=why)  # fmt: skip


async def test_admin_shows_the_gpu_a_painter_cannot_use(start_app, fake_api, job_store):
    await start_app([register_all])
    await job_store.register_engine(
        painter("box-a", f"{TOO_OLD}: update the <driver>"), exclusive=False
    )
    await job_store.register_engine(painter("box-b", None), exclusive=False)
    text = (await fake_api.say("/admin", user=ADMIN)).params["text"]
    lines = text.splitlines()
    a = lines.index(next(line for line in lines if "<code>box-a</code>" in line))
    assert lines[a + 1] == f"  ⚠️ GPU present but unused: {TOO_OLD}: update the &lt;driver&gt;"
    b = lines.index(next(line for line in lines if "<code>box-b</code>" in line))
    assert "GPU present but unused" not in "\n".join(lines[b:])
    assert text.count("⚠️ GPU present but unused") == 1


async def test_admin_says_it_in_the_admins_language(start_app, fake_api, job_store):
    await start_app([register_all])
    await job_store.register_engine(painter("box-a", TOO_OLD), exclusive=False)
    admin = make_user(ADMIN_ID, "Ada", "ada_admin", language_code="de")
    text = (await fake_api.say("/admin", user=admin)).params["text"]
    assert "GPU vorhanden, aber ungenutzt" in text and TOO_OLD in text


async def test_healthz_says_degraded_while_a_live_painter_has_an_unused_gpu(fake_api, tmp_path):
    config = make_settings(fake_api, tmp_path, METRICS_PORT=0, METRICS_LISTEN="127.0.0.1")
    async with style_bot(fake_api, config) as deps:
        port = deps.app.bot_data["ops_server"].port

        async def healthy() -> bool:
            return await http_get(port, "/healthz") == (200, "ok\n")

        await eventually(healthy, 15, "the first getUpdates")
        # A painter heard of long ago, with the same trouble: gone, nothing to say.
        old = await JobStore.open(config.data_dir, clock=lambda: time.time() - 3600)
        try:
            await old.register_engine(
                EngineInfo("old-1-ab", 1, "elsewhere", "cpu", None, gpu_unused=TOO_OLD)
            )
        finally:
            await old.close()
        assert await http_get(port, "/healthz") == (200, "ok\n")

        await deps.store.register_engine(painter("box-a", TOO_OLD), exclusive=False)
        status, body = await http_get(port, "/healthz")
        assert status == 200  # the bot works; restarting it would not bring the GPU back
        assert body == (
            f"degraded: painter box-a on {this_host()}: GPU present but unused: {TOO_OLD}\n"
        )

        await deps.store.unregister_engine("box-a-1-ab")
        assert await http_get(port, "/healthz") == (200, "ok\n")
