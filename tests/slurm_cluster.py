"""A throwaway single-node SLURM cluster for tests/test_slurm.py.

Runs as root on a Debian-like machine with slurmctld, slurmd, slurm-client and munge installed
(`.ci/run` installs them): writes /etc/slurm/slurm.conf (srun inside a job reads the standard
location; the SLURM executor's job step drops SLURM_CONF), starts munged, slurmctld and slurmd
by hand (no systemd), and stops them by their pid files. The node has one schedulable fake
GPU (gres File=/dev/null), so rules with `gpu: 1` are really scheduled with --gpus.

A machine that is part of a real SLURM installation (SLURM_CONF set, files in /etc/slurm this
module did not write, SLURM daemons running, or a controller answering, e.g. configless) is
left alone: `Unavailable` says why, and the test is skipped. Whatever start() began, stop()
ends: jobs cancelled, daemons (munged too, if started here) stopped, files and state removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

MARKER = "# written by advinterp tests/slurm_cluster.py; safe to delete"
CONF_DIR = Path("/etc/slurm")
# what Debian's slurm packages put in /etc/slurm themselves
PACKAGE_FILES = {"plugstack.conf", "plugstack.conf.d"}
STATE: Path | None = None  # the running cluster's state directory (a fresh private temp dir)
MUNGE_PID = Path("/run/munge/munged.pid")
PARTITION = "debug"
INSTALL = "apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge"


class Unavailable(RuntimeError):
    """No test cluster can be started here (the reason is the message)."""


def _slurm_conf(cpus: int, memory_mb: int, state: Path) -> str:
    return f"""{MARKER}
ClusterName=advinterp
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/d
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=3600
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=localhost CPUs={cpus} RealMemory={memory_mb} Gres=gpu:{GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


GPUS = 2
GRES_CONF = f"""{MARKER}
AutoDetect=off
NodeName=localhost Name=gpu File=/dev/null,/dev/zero
"""


def _free_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise Unavailable("cannot read MemAvailable from /proc/meminfo")


def _ours(path: Path) -> bool:
    return not path.exists() or path.read_text().startswith(MARKER)


def _running(name: str) -> bool:
    """A live (not zombie) process of that name exists."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if fields.get("Name", "").strip() == name and not fields.get("State", "").startswith("Z"):
            return True
    return False


def _check_can_start() -> None:
    if os.geteuid() != 0:
        raise Unavailable("starting slurmctld/slurmd needs root")
    if os.environ.get("SLURM_CONF"):
        raise Unavailable(f"SLURM_CONF={os.environ['SLURM_CONF']} points at a SLURM installation; not touching it")
    missing = [b for b in ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged"]
               if not shutil.which(b) and not Path("/usr/sbin", b).exists()]
    if missing:
        raise Unavailable(f"SLURM is not installed (missing {', '.join(missing)}); install it with: {INSTALL}")
    if CONF_DIR.exists():
        for path in CONF_DIR.iterdir():
            if path.name not in PACKAGE_FILES and not (path.is_file() and _ours(path)):
                raise Unavailable(f"{path} belongs to a SLURM installation; not touching {CONF_DIR}")
    for daemon in ["slurmctld", "slurmd", "slurmdbd", "slurmstepd", "sackd"]:
        if _running(daemon):
            raise Unavailable(f"{daemon} is already running here; not starting a test cluster beside it")
    try:  # a configless cluster answers without any local file
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        ping = None
    if ping is not None and ping.returncode == 0 and "UP" in ping.stdout:
        raise Unavailable(f"a SLURM controller answers here ({ping.stdout.strip()}); not starting a test cluster")


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Unavailable(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")


def start(timeout: float = 30) -> None:
    """Start a fresh cluster in a new private state directory; returns once the node is idle."""
    global STATE
    _check_can_start()
    STATE = Path(tempfile.mkdtemp(prefix="advinterp-slurm-"))
    try:
        _start(timeout)
    except BaseException:
        stop()
        raise


def _start(timeout: float) -> None:
    for sub in ["ctld", "d"]:
        (STATE / sub).mkdir()
    CONF_DIR.mkdir(exist_ok=True)
    (CONF_DIR / "slurm.conf").write_text(_slurm_conf(2 * GPUS, memory_mb(), STATE))
    (CONF_DIR / "gres.conf").write_text(GRES_CONF)
    if not _running("munged"):
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        _run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"])
        (STATE / "munged.started").touch()
    _run(["slurmctld", "-i"])
    _run(["slurmd", "-N", "localhost"])
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    log = "\n".join(p.read_text()[-1500:] for p in STATE.glob("*.log"))
    raise Unavailable(f"the SLURM node did not become idle in {timeout:.0f} s (state {state!r}):\n{log}")


def memory_mb() -> int:
    """The node's RealMemory: what is free, less 1 GiB."""
    return _free_memory_mb() - 1024


def stop() -> None:
    """Cancel every job, stop the daemons this module started (by their pid files), remove the
    config it wrote and its state directory."""
    global STATE
    if STATE is None:
        return
    subprocess.run(["scancel", "--partition", PARTITION], capture_output=True, timeout=30)
    pid_files = [STATE / "slurmd.pid", STATE / "slurmctld.pid"]
    if (STATE / "munged.started").exists():
        pid_files.append(MUNGE_PID)
    for pid_file in pid_files:
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_running("slurmd") or _running("slurmctld")):
        time.sleep(0.2)
    for conf in ["slurm.conf", "gres.conf"]:
        if (CONF_DIR / conf).exists() and _ours(CONF_DIR / conf):
            (CONF_DIR / conf).unlink()
    shutil.rmtree(STATE, ignore_errors=True)
    STATE = None


def job_record(job_id: str) -> dict[str, str]:
    """`scontrol show job` of a finished job (kept MinJobAge seconds) as key → value."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                         check=True).stdout
    return dict(field.split("=", 1) for field in out.split() if "=" in field)
